"""A plain convolutional network without batch norm or residual connections, for Lipschitz-margin
certification (Tsuzuku et al. 2018): every layer is a Conv2d, ReLU, Flatten or Linear, so the sound
layer-wise bound is close to the network's real Lipschitz constant (a residual net with batch norm gives
bounds around 1e9). The "4C2F" layout of the Lipschitz literature, width w:
    conv 3x3 w, conv 4x4 stride 2 w, conv 3x3 2w, conv 4x4 stride 2 2w, linear 256, linear classes.
Built as one flat nn.Sequential (after the NormalizeLayer) so that the certifier follows every module."""
from __future__ import annotations

from functools import partial

from torch import nn

from smoothing.architectures import normalized, register_architecture
from smoothing.datasets import dataset_info


def plain_cnn(width: int, dataset: str = "cifar10") -> nn.Sequential:
    info = dataset_info(dataset)
    channels, height, _ = info.input_shape
    features = 2 * width * (height // 4) ** 2
    net = nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(2 * width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(features, 256), nn.ReLU(), nn.Linear(256, info.num_classes),
    )
    return normalized(net, dataset)


for _width in (16, 32):
    register_architecture(f"plain_cnn4c2f_w{_width}")(partial(plain_cnn, _width))
