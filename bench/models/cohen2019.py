"""Cohen et al.'s released models (locuslab/smoothing 'models.tar'), unpacked under $SMOOTHBENCH_MODELS:
<root>/cifar10/resnet110/noise_<s>/checkpoint.pth.tar and <root>/imagenet/resnet50/noise_<s>/checkpoint.pth.tar."""
from functools import partial

from bench.models import ModelSpec, models_root, register_model

ARCHITECTURES = {"resnet110": "ResNet-110 (CIFAR)", "resnet50": "ResNet-50 (torchvision)"}
TRAINING_SETS = {"cifar10": "CIFAR-10 training set, exact pixels", "imagenet": "ImageNet (ILSVRC-2012) training set"}


def _released(dataset: str, arch: str, sigma: str) -> ModelSpec:
    return ModelSpec(f"cohen2019-{dataset}-{arch}-noise{sigma}", dataset,
                     models_root() / dataset / arch / f"noise_{sigma}" / "checkpoint.pth.tar",
                     train_sigma=float(sigma), architecture=ARCHITECTURES[arch],
                     trained_on=f"{TRAINING_SETS[dataset]}, Gaussian noise sigma {sigma}",
                     recipe="locuslab/smoothing code/train.py (90 epochs, SGD lr 0.1)",
                     source="Cohen, Rosenfeld & Kolter (ICML 2019), released models")


for _sigma in ("0.12", "0.25", "0.50", "1.00"):
    register_model(f"cohen2019-cifar10-resnet110-noise{_sigma}")(partial(_released, "cifar10", "resnet110", _sigma))
for _sigma in ("0.25", "0.50", "1.00"):
    register_model(f"cohen2019-imagenet-resnet50-noise{_sigma}")(partial(_released, "imagenet", "resnet50", _sigma))
