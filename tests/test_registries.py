"""Every registered name round-trips through its factory."""
import pytest
import torch

from baselines import certified_radius, guarantee_names
from bench.certifiers import CERTIFIERS, create_certifier, is_smoothing
from bench.models import MODELS, create_model_spec
from smoothing.architectures import architecture_names, create_architecture
from smoothing.datasets import dataset_info, dataset_names


@pytest.mark.parametrize("name", ["cifar_resnet20", "idelbayev_resnet20", "plain_cnn4c2f_w16"])
def test_architectures(name):
    assert name in architecture_names()
    model = create_architecture(name, "cifar10")
    assert model.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 10)


def test_datasets():
    assert {"cifar10", "imagenet", "cifar10-embedded", "cifar10-jpeg"} <= set(dataset_names())
    assert dataset_info("imagenet").num_classes == 1000 and dataset_info("cifar10").input_shape == (3, 32, 32)


def test_certifiers_and_guarantees():
    assert CERTIFIERS.names() == ["gaussian", "li-renyi", "lipschitz-margin", "pixeldp", "pixeldp-scores"]
    for name in CERTIFIERS.names():
        certifier = create_certifier(name)
        assert certifier.name == name and is_smoothing(certifier) == (name != "lipschitz-margin")
    for name in guarantee_names():
        assert certified_radius(name, 1.0, 0.9) > 0


def test_models():
    for name in MODELS.names():
        spec = create_model_spec(name)
        assert spec.name == name and spec.dataset in dataset_names()
    assert create_model_spec("cifar10-demo-resnet20").checkpoint.is_file()
