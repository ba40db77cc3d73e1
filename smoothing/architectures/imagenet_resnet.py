"""ImageNet ResNet-50 (torchvision), the base classifier of Cohen et al.'s ImageNet experiments."""
from __future__ import annotations

from torch import nn
from torchvision.models import resnet50 as torchvision_resnet50

from smoothing.architectures import normalized, register_architecture
from smoothing.datasets import dataset_info


@register_architecture("resnet50")
def resnet50(dataset: str = "imagenet") -> nn.Sequential:
    return normalized(torchvision_resnet50(weights=None, num_classes=dataset_info(dataset).num_classes), dataset)
