"""Cohen et al.'s released models (locuslab/smoothing 'models.tar'), unpacked under $SMOOTHBENCH_MODELS:
<root>/cifar10/resnet110/noise_<s>/checkpoint.pth.tar and <root>/imagenet/resnet50/noise_<s>/checkpoint.pth.tar."""
from functools import partial

from bench.models import ModelSpec, models_root, register_model


def _released(dataset: str, arch: str, sigma: str) -> ModelSpec:
    return ModelSpec(f"cohen2019-{dataset}-{arch}-noise{sigma}", dataset,
                     models_root() / dataset / arch / f"noise_{sigma}" / "checkpoint.pth.tar",
                     train_sigma=float(sigma))


for _sigma in ("0.12", "0.25", "0.50", "1.00"):
    register_model(f"cohen2019-cifar10-resnet110-noise{_sigma}")(partial(_released, "cifar10", "resnet110", _sigma))
for _sigma in ("0.25", "0.50", "1.00"):
    register_model(f"cohen2019-imagenet-resnet50-noise{_sigma}")(partial(_released, "imagenet", "resnet50", _sigma))
