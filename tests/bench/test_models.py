"""The model registry (bench.models): every registered name round-trips, the shipped checkpoints are there."""
from bench.models import MODELS, create_model_spec
from smoothing.datasets import dataset_names


def test_models():
    for name in MODELS.names():
        spec = create_model_spec(name)
        assert spec.name == name and spec.dataset in dataset_names()
    assert create_model_spec("cifar10-jpeg-resnet20-noise0.25").checkpoint.is_file()

