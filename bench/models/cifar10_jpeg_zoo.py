"""The CIFAR-10 model zoo trained here on the complete JPEG training set (results/checkpoints/):
ResNet-20s fine-tuned with Gaussian noise at each sigma, and Lipschitz-margin (LMT) trained plain conv nets."""
from functools import partial
from importlib import resources
from pathlib import Path

from bench.models import CPU_2_CORES, ModelSpec, register_model

CHECKPOINTS = Path(str(resources.files("smoothbench_checkpoints")))
TRAINED_ON = "CIFAR-10 training set, 50,000 images as JPEG quality 75 (cifar10-jpeg)"
SIGMAS = ("0.12", "0.25", "0.50", "1.00")


def _noise_zoo(sigma: str) -> ModelSpec:
    return ModelSpec(
        f"cifar10-jpeg-resnet20-noise{sigma}", "cifar10",
        CHECKPOINTS / "cifar10-jpeg-zoo" / f"resnet20-noise{sigma}" / "checkpoint.pth.tar", train_sigma=float(sigma),
        architecture="ResNet-20 (Idelbayev, option A)", trained_on=TRAINED_ON + f", Gaussian noise sigma {sigma}; started from Idelbayev's clean ResNet-20",
        recipe="results/checkpoints/cifar10-jpeg-zoo/train.sh", source="smoothbench", training_device=CPU_2_CORES,
    )


for _sigma in SIGMAS:
    register_model(f"cifar10-jpeg-resnet20-noise{_sigma}")(partial(_noise_zoo, _sigma))


LMT_SWEEP = (("16", "0.05"), ("16", "0.1"), ("32", "0.1"), ("32", "0.15"))  # (width, c): cifar10-jpeg-lmt/w<width>-c<c>


def _lmt(width: str, c: str) -> ModelSpec:
    return ModelSpec(
        f"cifar10-jpeg-lmt-cnn4c2f-w{width}-c{c}", "cifar10",
        CHECKPOINTS / "cifar10-jpeg-lmt" / f"w{width}-c{c}" / "model.pth.tar", method="lmt",
        architecture=f"plain 4C2F conv net, width {width}, no batch norm", trained_on=TRAINED_ON + f", Lipschitz-margin training (c = {c}) from scratch, no noise",
        recipe="results/checkpoints/cifar10-jpeg-lmt/train.sh", source="smoothbench", training_device=CPU_2_CORES,
    )


for _width, _c in LMT_SWEEP:
    register_model(f"cifar10-jpeg-lmt-cnn4c2f-w{_width}-c{_c}")(partial(_lmt, _width, _c))
