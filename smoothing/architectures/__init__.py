"""Base classifiers f, each wrapped as Sequential(NormalizeLayer(mean, std), net).

Inputs are pixels in [0, 1]: normalisation is the model's first layer, so Gaussian noise is added in
pixel space, as in Cohen et al. (2019). Adding an architecture is one new module in this package:

    @register_architecture("my_net")
    def my_net(dataset: str) -> nn.Module:
        return normalized(MyNet(num_classes=dataset_info(dataset).num_classes), dataset)
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from smoothing.datasets import dataset_info
from smoothing.registry import Registry

ARCHITECTURES: Registry[nn.Module] = Registry("architecture", "smoothing.architectures")
register_architecture = ARCHITECTURES.register


class NormalizeLayer(nn.Module):
    """(x - mean) / std per channel. The statistics are buffers that are not saved, so state dicts keep
    the reference's keys ('1.<net>...')."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(-1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def normalized(
    net: nn.Module, dataset: str, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> nn.Sequential:
    """Sequential(NormalizeLayer, net), with the dataset's statistics unless mean/std are given."""
    info = dataset_info(dataset)
    return nn.Sequential(NormalizeLayer(mean or info.mean, std or info.std), net)


def create_architecture(name: str, dataset: str) -> nn.Sequential:
    """A freshly initialised base classifier for `dataset` (random weights)."""
    return ARCHITECTURES.create(name, dataset=dataset)


def architecture_names() -> list[str]:
    return ARCHITECTURES.names()
