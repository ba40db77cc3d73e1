"""The shipped demo model (README, 'Architectures and checkpoints')."""
from pathlib import Path

from bench.models import ModelSpec, register_model

REPO = Path(__file__).resolve().parents[2]


@register_model("cifar10-demo-resnet20")
def cifar10_demo() -> ModelSpec:
    return ModelSpec("cifar10-demo-resnet20", "cifar10", REPO / "results/checkpoints/cifar10-demo/checkpoint.pth.tar",
                     train_sigma=0.25)
