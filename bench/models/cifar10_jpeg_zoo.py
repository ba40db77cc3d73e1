"""The CIFAR-10 model zoo trained here on the complete JPEG training set (results/checkpoints/):
ResNet-20s fine-tuned with Gaussian noise at each sigma, and Lipschitz-margin (LMT) trained plain conv nets."""
from functools import partial

from bench.models import CPU_2_CORES, ModelSpec, checkpoints_root, register_model

CHECKPOINTS = checkpoints_root()
TRAINED_ON = "CIFAR-10 training set, 50,000 images as JPEG quality 75 (cifar10-jpeg)"
SIGMAS = ("0.12", "0.25", "0.50", "1.00")


def _noise_zoo(sigma: str) -> ModelSpec:
    return ModelSpec(
        f"cifar10-jpeg-resnet20-noise{sigma}", "cifar10",
        CHECKPOINTS / "cifar10-jpeg-zoo" / f"resnet20-noise{sigma}" / "checkpoint.pth.tar", train_sigma=float(sigma),
        architecture="ResNet-20 (Idelbayev, option A)", trained_on=TRAINED_ON + f", Gaussian noise sigma {sigma}; started from Idelbayev's clean ResNet-20",
        recipe="scripts/train_jpeg_zoo.sh", source="smoothbench", training_device=CPU_2_CORES,
    )


for _sigma in SIGMAS:
    register_model(f"cifar10-jpeg-resnet20-noise{_sigma}")(partial(_noise_zoo, _sigma))


# (width, c, epochs): folder cifar10-jpeg-lmt/w<width>-c<c>, or w<width>-c<c>-e<epochs> where epochs is given
LMT_SWEEP = (("16", "0.05", ""), ("16", "0.1", ""), ("32", "0.1", ""), ("32", "0.15", ""), ("32", "0.1", "60"))


def _lmt(folder: str, width: str, c: str) -> ModelSpec:
    return ModelSpec(
        f"cifar10-jpeg-lmt-cnn4c2f-{folder}", "cifar10",
        CHECKPOINTS / "cifar10-jpeg-lmt" / folder / "model.pth.tar", method="lmt",
        architecture=f"plain 4C2F conv net, width {width}, no batch norm", trained_on=TRAINED_ON + f", Lipschitz-margin training (c = {c}) from scratch, no noise",
        recipe="scripts/train_jpeg_lmt.sh", source="smoothbench", training_device=CPU_2_CORES,
    )


for _width, _c, _epochs in LMT_SWEEP:
    _folder = f"w{_width}-c{_c}" + (f"-e{_epochs}" if _epochs else "")
    register_model(f"cifar10-jpeg-lmt-cnn4c2f-{_folder}")(partial(_lmt, _folder, _width, _c))
