"""CIFAR ResNet-20/32/44/56 with the parameter-free "option A" shortcut (He et al. 2016, section 4.2),
in the layout of Y. Idelbayev's pretrained weights (github.com/akamaster/pytorch_resnet_cifar10,
BSD-2-Clause). Those weights expect ImageNet channel statistics, so this family fixes them."""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from smoothing.architectures import normalized, register_architecture
from smoothing.datasets import dataset_info

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ChannelPadShortcut(nn.Module):
    """Option A's shortcut: every second pixel, `pad` zero channels on each side (no parameters)."""

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class OptionABlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); where the shape changes the shortcut takes
    every second pixel and zero-pads planes // 4 channels on each side (no parameters)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ChannelPadShortcut(planes // 4) if stride != 1 or in_planes != planes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        return F.relu(out + shortcut)

    def forward_residual(self) -> tuple[list[nn.Module], list[nn.Module], nn.Module]:
        """forward(x) = relu(branch(x) + shortcut(x)) as (branch, shortcut, activation) (see BasicBlock)."""
        return [self.conv1, self.bn1, nn.ReLU(), self.conv2, self.bn2], [self.shortcut] * bool(self.shortcut), nn.ReLU()


class OptionAResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10):
        super().__init__()
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = nn.Sequential(*[OptionABlock(16, 16) for _ in range(blocks)])
        self.layer2 = nn.Sequential(OptionABlock(16, 32, 2), *[OptionABlock(32, 32) for _ in range(blocks - 1)])
        self.layer3 = nn.Sequential(OptionABlock(32, 64, 2), *[OptionABlock(64, 64) for _ in range(blocks - 1)])
        self.linear = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(x.mean(dim=(2, 3)))

    def forward_layers(self) -> list[nn.Module]:
        """The modules forward runs, in order (F.relu as nn.ReLU, the spatial mean as average pooling)."""
        return [self.conv1, self.bn1, nn.ReLU(), self.layer1, self.layer2, self.layer3, nn.AdaptiveAvgPool2d(1),
                nn.Flatten(), self.linear]


def _option_a(depth: int, dataset: str = "cifar10") -> nn.Sequential:
    net = OptionAResNet(depth, dataset_info(dataset).num_classes)
    return normalized(net, dataset, IMAGENET_MEAN, IMAGENET_STD)


for _depth in (20, 32, 44, 56):
    register_architecture(f"idelbayev_resnet{_depth}")(partial(_option_a, _depth))
