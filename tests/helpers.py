"""What several test modules share beyond fixtures (those are in conftest.py): model stand-ins with exact
answers, the tiny suite, and command-line helpers."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.cli import main

REPOSITORY = Path(__file__).resolve().parents[1]  # the checkout: its committed results/ are checked too


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


def one_line_error(capsys) -> str:
    """The single error line a command printed (and no traceback)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line or "Traceback" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def certify_three(checkpoint, out, *extra) -> int:
    """`smoothbench certify` of 3 embedded images (index 0, 3, 6), n = 40, seeded."""
    return main(["certify", "cifar10-embedded", str(checkpoint), "0.25", str(out), "--N0", "10", "--N", "40",
                 "--batch", "40", "--skip", "3", "--max", "7", "--seed", "0", "--device", "cpu", *extra])


class Payload:
    """Pickled, it would call print: code that safe loading must never run."""

    def __reduce__(self):
        return (print, ("this must never run",))


def cuda_conv_net() -> nn.Module:
    """A small conv net on the GPU (tests marked cuda)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(32, 10)).cuda().eval()
