"""CIFAR ResNets as used by Cohen et al. (2019): He et al. (2016) section 4.2, depth 6k + 2, basic
blocks with 16/32/64 channels and a 1x1 convolution + batch norm shortcut where the shape changes.
Module names match the reference's `cifar_resnet`, so its released checkpoints load unchanged."""
from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from smoothing.architectures import normalized, register_architecture
from smoothing.datasets import dataset_info


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)

    def forward_residual(self) -> tuple[list[nn.Module], list[nn.Module], nn.Module]:
        """forward(x) = activation(branch(x) + shortcut(x)) as (branch, shortcut, activation), each list the
        modules run in order (empty: the identity); for analyses of the forward pass (baselines.lipschitz)."""
        return [self.conv1, self.bn1, self.relu, self.conv2, self.bn2], [self.downsample] * bool(self.downsample), self.relu


class CifarResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6k + 2 (20, 56, 110, ...), got {depth}")
        blocks = (depth - 2) // 6
        self.conv1 = conv3x3(3, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._stage(16, 16, blocks, stride=1)
        self.layer2 = self._stage(16, 32, blocks, stride=2)
        self.layer3 = self._stage(32, 64, blocks, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):  # He initialisation, fan-out
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                module.weight.data.normal_(0, math.sqrt(2.0 / fan_out))

    @staticmethod
    def _stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(in_planes, planes, stride)]
        layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def forward_layers(self) -> list[nn.Module]:
        """The modules forward runs, in order (torch.flatten as nn.Flatten), for analyses of the forward pass."""
        return [self.conv1, self.bn1, self.relu, self.layer1, self.layer2, self.layer3, self.avgpool, nn.Flatten(),
                self.fc]


def _cifar_resnet(depth: int, dataset: str = "cifar10") -> nn.Sequential:
    return normalized(CifarResNet(depth, dataset_info(dataset).num_classes), dataset)


for _depth in (20, 56, 110):
    register_architecture(f"cifar_resnet{_depth}")(partial(_cifar_resnet, _depth))
