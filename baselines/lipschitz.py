"""Lipschitz-margin certification (Tsuzuku, Sato & Sugiyama, NeurIPS 2018).

If L_feat bounds the l2 Lipschitz constant of the features h(x) feeding the last linear layer
z = W h + b, then for every class i != t the margin z_t - z_i moves by at most L_feat ||w_t - w_i|| ||delta||,
so the prediction t is certified at radius
    R = min_{i != t} (z_t - z_i) / (L_feat ||w_t - w_i||)        (pairwise form, their evaluation)
which is never smaller than the global form margin / (sqrt(2) L), L = L_feat ||W||_2.

L_feat is the product of per-layer bounds. The *sound* bound of a convolution (with its batch norm folded
in) is the exact norm of the circular convolution on an (H + 2p)^2 grid, from the FFT of the kernel and
one SVD per frequency (Sedghi, Gupta & Long, ICLR 2019): the zero-padded, strided operator is a crop and
a subsample of it, so its norm can only be smaller. The tight *estimate* is power iteration on the real
operator (conv2d, then conv_transpose2d with its stride and padding); it approaches the norm from below
and is reported beside the bound, never used for a certificate. Residual blocks: L_branch + L_shortcut.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from smoothing.architectures import NormalizeLayer
from smoothing.architectures.cifar_resnet import BasicBlock, CifarResNet
from smoothing.architectures.idelbayev_resnet import OptionABlock, OptionAResNet

ROUNDING = 1.0 + 1e-9  # float64 SVDs are accurate to ~1e-15 relative; keep a margin above that


@dataclass(frozen=True)
class Lipschitz:
    """A sound upper bound and a power-iteration estimate of one operator's l2 Lipschitz constant."""

    bound: float
    estimate: float

    def __mul__(self, other: "Lipschitz") -> "Lipschitz":
        return Lipschitz(self.bound * other.bound, self.estimate * other.estimate)

    def __add__(self, other: "Lipschitz") -> "Lipschitz":
        return Lipschitz(self.bound + other.bound, self.estimate + other.estimate)


ONE = Lipschitz(1.0, 1.0)


def folded_kernel(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> torch.Tensor:
    """The kernel of conv followed by an eval-mode batch norm (gamma / sqrt(var + eps) per channel)."""
    weight = conv.weight.detach().double()
    if bn is None:
        return weight
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + bn.eps)
    return weight * scale[:, None, None, None]


def circular_conv_bound(kernel: torch.Tensor, height: int, width: int, padding: tuple[int, int]) -> float:
    """max over DFT frequencies of ||K_hat(f)||_2 on a grid that holds the padded input."""
    grid = (max(height + 2 * padding[0], kernel.shape[2]), max(width + 2 * padding[1], kernel.shape[3]))
    spectrum = torch.fft.fft2(kernel, s=grid).permute(2, 3, 0, 1)  # (N, M, out, in)
    return torch.linalg.matrix_norm(spectrum, ord=2).max().item() * ROUNDING


def conv_power_iteration(conv: nn.Conv2d, kernel: torch.Tensor, shape: tuple[int, ...], iterations: int = 100) -> float:
    """||conv|| of the real operator (stride, padding) by power iteration; approaches it from below."""
    v = torch.randn((1, *shape), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out_shape = F.conv2d(v, kernel, stride=conv.stride, padding=conv.padding).shape
    output_padding = tuple(
        shape[1 + d] - ((out_shape[2 + d] - 1) * conv.stride[d] - 2 * conv.padding[d] + kernel.shape[2 + d])
        for d in range(2)
    )
    for _ in range(iterations):
        v = v / v.norm()
        u = F.conv2d(v, kernel, stride=conv.stride, padding=conv.padding)
        v = F.conv_transpose2d(u, kernel, stride=conv.stride, padding=conv.padding, output_padding=output_padding)
    v = v / v.norm()
    return F.conv2d(v, kernel, stride=conv.stride, padding=conv.padding).norm().item()


def conv_lipschitz(conv: nn.Conv2d, bn: nn.BatchNorm2d | None, shape: tuple[int, ...]) -> Lipschitz:
    if conv.groups != 1 or conv.dilation != (1, 1) or isinstance(conv.padding, str):
        raise ValueError("Lipschitz bounds support plain convolutions (groups 1, dilation 1, numeric padding)")
    kernel = folded_kernel(conv, bn)
    return Lipschitz(circular_conv_bound(kernel, shape[1], shape[2], conv.padding),
                     conv_power_iteration(conv, kernel, shape))


def linear_lipschitz(weight: torch.Tensor) -> Lipschitz:
    norm = torch.linalg.matrix_norm(weight.detach().double(), ord=2).item()
    return Lipschitz(norm * ROUNDING, norm)


def _layers(module: nn.Module) -> list[nn.Module]:
    """The forward sequence of a supported network."""
    if isinstance(module, CifarResNet):
        return [module.conv1, module.bn1, module.relu, module.layer1, module.layer2, module.layer3,
                nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if isinstance(module, OptionAResNet):
        return [module.conv1, module.bn1, nn.ReLU(), module.layer1, module.layer2, module.layer3,
                nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if isinstance(module, nn.Sequential):
        return list(module)
    raise ValueError(f"no Lipschitz rule for {type(module).__name__}; supported: Sequential, CIFAR ResNets")


def sequence_lipschitz(layers: list[nn.Module], shape: tuple[int, ...]) -> tuple[Lipschitz, tuple[int, ...]]:
    """(bound of the composition, output shape), folding each batch norm into the conv before it."""
    total, i = ONE, 0
    while i < len(layers):
        layer = layers[i]
        following = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, nn.Conv2d):
            bn = following if isinstance(following, nn.BatchNorm2d) else None
            total = total * conv_lipschitz(layer, bn, shape)
            i += 1 if bn is None else 2
            layer = nn.Sequential(layer, bn) if bn is not None else layer
        else:
            total = total * layer_lipschitz(layer, shape)
            i += 1
        with torch.no_grad():
            shape = tuple(layer.eval()(torch.zeros((1, *shape))).shape[1:])
    return total, shape


def layer_lipschitz(layer: nn.Module, shape: tuple[int, ...]) -> Lipschitz:
    if isinstance(layer, (nn.ReLU, nn.Flatten, nn.Identity)):
        return ONE
    if isinstance(layer, NormalizeLayer):
        value = (1.0 / layer.std.double()).max().item()
        return Lipschitz(value, value)
    if isinstance(layer, nn.BatchNorm2d):
        value = (layer.weight.double().abs() / torch.sqrt(layer.running_var.double() + layer.eps)).max().item()
        return Lipschitz(value, value)
    if isinstance(layer, nn.AdaptiveAvgPool2d) and layer.output_size in (1, (1, 1)):
        value = (shape[1] * shape[2]) ** -0.5  # the mean of H*W values: ||.|| = 1 / sqrt(HW)
        return Lipschitz(value, value)
    if isinstance(layer, nn.Linear):
        return linear_lipschitz(layer.weight)
    if isinstance(layer, BasicBlock):
        branch, _ = sequence_lipschitz([layer.conv1, layer.bn1, layer.relu, layer.conv2, layer.bn2], shape)
        shortcut = ONE if layer.downsample is None else sequence_lipschitz(list(layer.downsample), shape)[0]
        return branch + shortcut
    if isinstance(layer, OptionABlock):
        branch, _ = sequence_lipschitz([layer.conv1, layer.bn1, nn.ReLU(), layer.conv2, layer.bn2], shape)
        return branch + ONE  # subsampling and zero-padding channels never increase the norm
    return sequence_lipschitz(_layers(layer), shape)[0]


def split_head(model: nn.Sequential) -> tuple[list[nn.Module], nn.Linear]:
    """(feature layers, final linear layer) of Sequential(NormalizeLayer, net)."""
    layers = [model[0], *_layers(model[1])] if isinstance(model[0], NormalizeLayer) else _layers(model)
    head = getattr(model[-1], "fc", None) or getattr(model[-1], "linear", None) or layers[-1]
    if not isinstance(head, nn.Linear):
        raise ValueError("the network must end in a linear layer")
    return [layer for layer in layers if layer is not head], head


@dataclass(frozen=True)
class LipschitzCertifier:
    """Certifies each input's prediction with the pairwise Lipschitz-margin radius, from the sound bound."""

    model: nn.Sequential
    features: Lipschitz
    head: nn.Linear

    @classmethod
    def for_model(cls, model: nn.Sequential, input_shape: tuple[int, ...]) -> "LipschitzCertifier":
        model.eval()
        layers, head = split_head(model)
        features, _ = sequence_lipschitz(layers, input_shape)
        return cls(model, features, head)

    @property
    def network(self) -> Lipschitz:
        """Bound on the whole logit map: L_feat * ||W||_2."""
        return self.features * linear_lipschitz(self.head.weight)

    @torch.no_grad()
    def certify(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(predictions, radii) for a batch x (B, C, H, W)."""
        logits = self.model(x).double()
        top = logits.argmax(1)
        weight = self.head.weight.detach().double()
        margins = logits.gather(1, top[:, None]) - logits  # (B, classes)
        row_gaps = (weight[top][:, None, :] - weight[None, :, :]).norm(dim=2)  # ||w_t - w_i||
        ratio = margins / (self.features.bound * row_gaps)
        ratio[torch.arange(len(top)), top] = float("inf")
        return top, ratio.min(dim=1).values.clamp(min=0.0)


def observed_gradient_norms(model: nn.Module, images: torch.Tensor) -> list[float]:
    """||J_f(x)||_2, the local Lipschitz constant of the logit map at each image (a lower bound of L)."""
    from torch.autograd.functional import jacobian

    model.eval()
    return [torch.linalg.matrix_norm(jacobian(lambda z: model(z[None])[0], x).flatten(1), ord=2).item()
            for x in images]


def main() -> None:
    import argparse

    import pandas as pd

    from smoothing.checkpoints import load_checkpoint
    from smoothing.datasets import create_dataset, dataset_info

    parser = argparse.ArgumentParser(description="Lipschitz bound of a network against its observed local gradient norms")
    parser.add_argument("checkpoint")
    parser.add_argument("--arch")
    parser.add_argument("--dataset", default="cifar10-embedded")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--out", help="append the row to this CSV file")
    args = parser.parse_args()
    model, _ = load_checkpoint(args.checkpoint, args.dataset, args.arch)
    data = create_dataset(args.dataset)
    certifier = LipschitzCertifier.for_model(model, dataset_info(args.dataset).input_shape)
    images = torch.stack([data[i][0] for i in range(args.images)])
    gradients = observed_gradient_norms(model, images)
    _, radii = certifier.certify(images)
    row = pd.DataFrame([dict(
        checkpoint=args.checkpoint, arch=args.arch or "", images=args.images, bound=certifier.network.bound,
        power_iteration_estimate=certifier.network.estimate, max_observed_gradient_norm=max(gradients),
        median_pairwise_radius=radii.median().item(),
    )])
    print(row.T.to_string(header=False))
    if args.out:
        row.to_csv(args.out, mode="a", header=not __import__("os").path.exists(args.out), index=False)


if __name__ == "__main__":
    main()
