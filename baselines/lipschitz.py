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


def folded_kernel(conv: nn.Conv2d, bn: nn.BatchNorm2d | None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The kernel of conv followed by an eval-mode batch norm (gamma / sqrt(var + eps) per channel)."""
    weight = conv.weight.to(dtype or conv.weight.dtype)
    if bn is None:
        return weight
    scale = bn.weight.to(weight.dtype) / torch.sqrt(bn.running_var.to(weight.dtype) + bn.eps)
    return weight * scale[:, None, None, None]


def circular_conv_bound(kernel: torch.Tensor, height: int, width: int, padding: tuple[int, int]) -> torch.Tensor:
    """max over DFT frequencies of ||K_hat(f)||_2 on a grid that holds the padded input."""
    grid = (max(height + 2 * padding[0], kernel.shape[2]), max(width + 2 * padding[1], kernel.shape[3]))
    spectrum = torch.fft.fft2(kernel, s=grid).permute(2, 3, 0, 1)  # (N, M, out, in)
    return torch.linalg.matrix_norm(spectrum, ord=2).max() * ROUNDING


class SoundBounds:
    """Operator norms that are upper bounds by construction (float64, no gradient)."""

    def conv(self, conv: nn.Conv2d, bn: nn.BatchNorm2d | None, shape: tuple[int, ...]) -> torch.Tensor:
        with torch.no_grad():
            return circular_conv_bound(folded_kernel(conv, bn, torch.float64), shape[1], shape[2], conv.padding)

    def linear(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.linalg.matrix_norm(weight.double(), ord=2) * ROUNDING


class PowerIteration:
    """Operator norms by power iteration on the real operators (conv2d / conv_transpose2d with their stride
    and padding). The vectors are cached per layer, so a few iterations per call suffice when the weights
    change slowly (LMT training); the value keeps its gradient with respect to the weights."""

    def __init__(self, iterations: int = 100):
        self.iterations = iterations
        self.vectors: dict[tuple[int, tuple[int, ...]], torch.Tensor] = {}

    def _vector(self, key: tuple[int, tuple[int, ...]], like: torch.Tensor) -> torch.Tensor:
        if key not in self.vectors:
            generator = torch.Generator().manual_seed(len(self.vectors))
            self.vectors[key] = torch.randn(key[1], generator=generator, dtype=like.dtype).to(like.device)
        return self.vectors[key]

    def conv(self, conv: nn.Conv2d, bn: nn.BatchNorm2d | None, shape: tuple[int, ...]) -> torch.Tensor:
        kernel = folded_kernel(conv, bn)
        forward = lambda v: F.conv2d(v, kernel, stride=conv.stride, padding=conv.padding)
        key = (id(conv), (1, *shape))
        v = self._vector(key, kernel)
        with torch.no_grad():
            out_shape = forward(v).shape
            output_padding = tuple(
                shape[1 + d] - ((out_shape[2 + d] - 1) * conv.stride[d] - 2 * conv.padding[d] + kernel.shape[2 + d])
                for d in range(2)
            )
            for _ in range(self.iterations):
                v = F.conv_transpose2d(forward(v / v.norm()), kernel, stride=conv.stride, padding=conv.padding,
                                       output_padding=output_padding)
            self.vectors[key] = v = v / v.norm()
        return forward(v).norm()

    def linear(self, weight: torch.Tensor) -> torch.Tensor:
        key = (id(weight), (weight.shape[1],))
        v = self._vector(key, weight)
        with torch.no_grad():
            for _ in range(self.iterations):
                v = weight.T @ (weight @ (v / v.norm()))
            self.vectors[key] = v = v / v.norm()
        return (weight @ v).norm()


Norms = SoundBounds | PowerIteration


def _layers(module: nn.Module) -> list[nn.Module]:
    """The forward sequence of a supported network."""
    if isinstance(module, (CifarResNet, OptionAResNet)):
        return [module.conv1, module.bn1, nn.ReLU(), module.layer1, module.layer2, module.layer3,
                nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if isinstance(module, nn.Sequential):
        return list(module)
    raise ValueError(f"no Lipschitz rule for {type(module).__name__}; supported: Sequential, CIFAR ResNets")


def sequence_lipschitz(layers: list[nn.Module], shape: tuple[int, ...], norms: Norms) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(Lipschitz bound of the composition, output shape); a batch norm is folded into the conv before it."""
    total, i = torch.ones((), dtype=torch.float64), 0
    while i < len(layers):
        layer = layers[i]
        following = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, nn.Conv2d):
            bn = following if isinstance(following, nn.BatchNorm2d) else None
            total = total * norms.conv(layer, bn, shape)
            i += 1 if bn is None else 2
            layer = nn.Sequential(layer, bn) if bn is not None else layer
        else:
            total = total * layer_lipschitz(layer, shape, norms)
            i += 1
        with torch.no_grad():
            shape = tuple(_eval_forward(layer, torch.zeros((1, *shape))).shape[1:])
    return total, shape


def _eval_forward(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run layer in eval mode (for shapes), then give every submodule back its own training flag."""
    flags = [(module, module.training) for module in layer.modules()]
    try:
        return layer.eval()(x.to(next(layer.parameters(), x).device))
    finally:
        for module, training in flags:
            module.training = training


def layer_lipschitz(layer: nn.Module, shape: tuple[int, ...], norms: Norms) -> torch.Tensor:
    if isinstance(layer, (nn.ReLU, nn.Flatten, nn.Identity)):
        return torch.ones((), dtype=torch.float64)
    if isinstance(layer, NormalizeLayer):
        return (1.0 / layer.std.double()).max()
    if isinstance(layer, nn.BatchNorm2d):
        return (layer.weight.abs() / torch.sqrt(layer.running_var + layer.eps)).max()
    if isinstance(layer, nn.AdaptiveAvgPool2d) and layer.output_size in (1, (1, 1)):
        return torch.tensor((shape[1] * shape[2]) ** -0.5, dtype=torch.float64)  # ||mean of HW values||
    if isinstance(layer, nn.Linear):
        return norms.linear(layer.weight)
    if isinstance(layer, (BasicBlock, OptionABlock)):  # relu(branch(x) + shortcut(x))
        branch, _ = sequence_lipschitz([layer.conv1, layer.bn1, nn.ReLU(), layer.conv2, layer.bn2], shape, norms)
        # Identity, or option A's subsampling and zero-padded channels: neither increases the norm.
        downsample = getattr(layer, "downsample", None)
        return branch + (1.0 if downsample is None else sequence_lipschitz(list(downsample), shape, norms)[0])
    return sequence_lipschitz(_layers(layer), shape, norms)[0]


def split_head(model: nn.Sequential) -> tuple[list[nn.Module], nn.Linear]:
    """(feature layers, final linear layer) of Sequential(NormalizeLayer, net)."""
    layers = [model[0], *_layers(model[1])] if isinstance(model[0], NormalizeLayer) else _layers(model)
    head = getattr(model[-1], "fc", None) or getattr(model[-1], "linear", None) or layers[-1]
    if not isinstance(head, nn.Linear):
        raise ValueError("the network must end in a linear layer")
    return [layer for layer in layers if layer is not head], head


@dataclass(frozen=True)
class Lipschitz:
    """A sound upper bound and a power-iteration estimate of a Lipschitz constant."""

    bound: float
    estimate: float


@dataclass(frozen=True)
class LipschitzCertifier:
    """Certifies each input's prediction with the pairwise Lipschitz-margin radius, from the sound bound."""

    model: nn.Sequential
    features: Lipschitz
    network: Lipschitz  # the whole logit map: L_feat * ||W||_2
    head: nn.Linear

    @classmethod
    def for_model(cls, model: nn.Sequential, input_shape: tuple[int, ...]) -> "LipschitzCertifier":
        model.eval()
        layers, head = split_head(model)
        with torch.no_grad():
            bound = sequence_lipschitz(layers, input_shape, SoundBounds())[0].item()
            estimate = sequence_lipschitz(layers, input_shape, PowerIteration())[0].item()
            head_bound = SoundBounds().linear(head.weight).item()
            head_estimate = PowerIteration().linear(head.weight).item()
        return cls(model, Lipschitz(bound, estimate), Lipschitz(bound * head_bound, estimate * head_estimate), head)

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


class LipschitzMarginLoss:
    """LMT (Tsuzuku et al. 2018): cross-entropy of the logits with sqrt(2) * c * L added to every
    non-target logit, L the network's Lipschitz constant by power iteration with cached vectors (one
    iteration per step, as in the paper) and eval-mode batch-norm scales; differentiable in the weights."""

    def __init__(self, model: nn.Sequential, input_shape: tuple[int, ...], c: float, iterations: int = 1):
        if c < 0:
            raise ValueError(f"the LMT margin constant c must be >= 0, got {c}")
        self.layers, self.head = split_head(model)
        self.input_shape, self.c = input_shape, c
        self.norms = PowerIteration(iterations)

    def lipschitz(self) -> torch.Tensor:
        features, _ = sequence_lipschitz(self.layers, self.input_shape, self.norms)
        return features * self.norms.linear(self.head.weight)

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        others = 1.0 - F.one_hot(targets, logits.shape[1]).to(logits.dtype)
        margin = (2.0 ** 0.5) * self.c * self.lipschitz().to(logits.dtype)
        return F.cross_entropy(logits + margin * others, targets)


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
