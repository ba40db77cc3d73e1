"""The shipped demo model (README, 'Architectures and checkpoints')."""

from bench.models import CPU_2_CORES, ModelSpec, checkpoints_root, register_model


@register_model("cifar10-demo-resnet20")
def cifar10_demo() -> ModelSpec:
    return ModelSpec("cifar10-demo-resnet20", "cifar10", checkpoints_root() / "cifar10-demo" / "checkpoint.pth.tar",
                     train_sigma=0.25, architecture="ResNet-20 (Idelbayev, option A)",
                     trained_on="CIFAR-10 test images 1000-9999 as JPEG, Gaussian noise sigma 0.25; started from "
                                "Idelbayev's clean ResNet-20",
                     recipe="scripts/train_demo.py", source="smoothbench",
                     training_device=CPU_2_CORES)
