from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from bench.models import ModelSpec, register_model
from bench.suite import load_suite
from smoothing.architectures import create_architecture
from smoothing.checkpoints import save_checkpoint

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"developers' data folder {SHARED} is absent")
    return SHARED


class LinearTwoClass(nn.Module):
    """f(x) = 1 if w.x + b > 0 else 0, as logits (0, w.x + b). Under N(0, sigma^2 I) noise,
    P(f(x + e) = f(x)) = Phi(|w.x + b| / (sigma ||w||)): the smoothed classifier's exact answer."""

    def __init__(self, w: torch.Tensor, b: float):
        super().__init__()
        self.shape = tuple(w.shape)
        self.w = nn.Parameter(w.flatten().clone(), requires_grad=False)
        self.b = b

    def points_at(self, distances: torch.Tensor) -> torch.Tensor:
        """Images at signed distance d from the boundary (on side 1 if d > 0), along w from the boundary's
        point nearest to the centre of the pixel cube."""
        w = self.w / self.w.norm()
        centre = torch.full_like(self.w, 0.5)
        base = centre - (centre @ self.w + self.b) / self.w.norm() * w
        return (base + distances[:, None] * w).view(-1, *self.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        margin = x.flatten(1) @ self.w + self.b
        return torch.stack([torch.zeros_like(margin), margin], dim=1)

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        """l2 distance of each image of x (B, ...) to the decision boundary."""
        return (x.flatten(1) @ self.w + self.b).abs() / self.w.norm()


@pytest.fixture(autouse=True)
def batch_size_cache(tmp_path_factory, monkeypatch) -> Path:
    """Tests never read or write the user's batch-size cache."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("SMOOTHBENCH_CACHE", str(folder))
    return folder / "batch_sizes.json"


@pytest.fixture
def linear_model() -> LinearTwoClass:
    """Images (1, 8, 8); w has entries +-1 and the boundary passes through the centre of the pixel cube,
    so points up to distance 4 from the boundary (8 sigma at sigma 0.5) are images in [0, 1]."""
    generator = torch.Generator().manual_seed(1)
    w = torch.randint(0, 2, (1, 8, 8), generator=generator).float() * 2 - 1
    return LinearTwoClass(w, b=-0.5 * w.sum().item())


SUITE = """
name = "tiny"
dataset = "cifar10-embedded"
skip = 100
certifiers = ["gaussian", "li-renyi", "pixeldp", "lipschitz-margin"]
n0 = 10
n = 60
alpha = 0.01
batch = 40
seed = 3

[[models]]
name = "test-tiny-resnet20"
sigmas = [0.25, 0.5]
"""


@pytest.fixture
def suite(tmp_path):
    checkpoint = tmp_path / "model.pth.tar"
    save_checkpoint(checkpoint, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    name = f"test-tiny-{tmp_path.name}"  # one registry entry per test
    register_model(name)(lambda: ModelSpec(name, "cifar10", checkpoint, train_sigma=0.25))
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE.replace("test-tiny-resnet20", name))
    return load_suite(str(path))
