"""The paper-size CIFAR-10 zoo trained here on one GPU (results/checkpoints/cifar10-jpeg-resnet110/): Cohen et
al.'s ResNet-110 trained from scratch with Gaussian noise at each sigma, on the complete JPEG training set."""
from functools import partial

from bench.models import ModelSpec, register_model
from bench.models.cifar10_jpeg_zoo import CHECKPOINTS, SIGMAS, TRAINED_ON

TRAINING_DEVICE = "NVIDIA H100 80GB HBM3 (the four sigmas side by side)"


def _resnet110(sigma: str) -> ModelSpec:
    return ModelSpec(
        f"cifar10-jpeg-resnet110-noise{sigma}", "cifar10",
        CHECKPOINTS / "cifar10-jpeg-resnet110" / f"noise{sigma}" / "checkpoint.pth.tar", train_sigma=float(sigma),
        architecture="ResNet-110 (Cohen et al.'s cifar_resnet110)",
        trained_on=TRAINED_ON + f", Gaussian noise sigma {sigma}; from scratch, 9 epochs (bf16)",
        recipe="bench/accelerator/zoo.sh", source="smoothbench", training_device=TRAINING_DEVICE,
    )


for _sigma in SIGMAS:
    register_model(f"cifar10-jpeg-resnet110-noise{_sigma}")(partial(_resnet110, _sigma))
