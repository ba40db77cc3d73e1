"""Lipschitz-margin certification (Tsuzuku, Sato & Sugiyama, NeurIPS 2018).

If L_feat bounds the l2 Lipschitz constant of the features h(x) feeding the last linear layer
z = W h + b, then for every class i != t the margin z_t - z_i moves by at most L_feat ||w_t - w_i|| ||delta||,
so the prediction t is certified at radius
    R = min_{i != t} (z_t - z_i) / (L_feat ||w_t - w_i||)        (pairwise form, their evaluation)
which is never smaller than the global form margin / (sqrt(2) L), L = L_feat ||W||_2.

L_feat is the product of per-layer bounds over *every* module the forward pass runs (nested Sequentials are
followed, and networks and residual blocks whose class describes its own forward pass: `forward_layers()`,
the modules it runs in order, `forward_residual()`, its branch, shortcut and activation, as the CIFAR
ResNets do; anything without a rule is refused, and so is a model that does not end in its linear head). Only what the modules'
own classes compute is bounded, so a model whose forward pass runs other code is refused: forward hooks and
pre-hooks (module or global, which includes the old-style weight_norm and spectral_norm that recompute a
weight before each call), an instance whose `forward` was replaced, and modules in training mode (batch
norm then uses each batch's statistics). The *sound* bound of a convolution (with its batch norm folded in) is
    ||conv|| <= ||circular convolution on the padded grid|| * ||padding||:
the strided convolution of the padded input is a crop of the strided circular one on the padded grid,
whose exact norm is the largest singular value over DFT frequencies of the (dilated) kernel, per group
(Sedghi, Gupta & Long, ICLR 2019), with the stride taken exactly by a polyphase decomposition. Zero padding is an isometric embedding (norm 1); reflect,
replicate and circular padding copy pixels, and the norm of a copying map is sqrt(largest number of
copies of one pixel), counted exactly. The tight *estimate* is power iteration on the real operator
(its adjoint by autograd); it approaches the norm from below and is reported beside the bound, never
used for a certificate. Residual blocks: L_branch + L_shortcut.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as module_hooks

from smoothing.architectures import NormalizeLayer
from smoothing.architectures.idelbayev_resnet import ChannelPadShortcut
from smoothing.certifiers import DETERMINISTIC, register_certifier
from smoothing.sampler import check_images

ROUNDING = 1.0 + 1e-9  # float64 SVDs are accurate to ~1e-15 relative; keep a margin above that
PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def check_forward_is_declared(model: nn.Module) -> None:
    """Refuse a model whose forward pass runs code its modules' classes do not declare: forward hooks and
    pre-hooks (a module's or global ones; old-style weight_norm and spectral_norm are pre-hooks), an
    instance-level `forward`, or a module in training mode."""
    global_hooks = [getattr(module_hooks, name, {}) for name in ("_global_forward_hooks", "_global_forward_pre_hooks")]
    if any(global_hooks):
        raise ValueError("a global forward hook is registered (torch.nn.modules.module.register_module_forward_hook "
                         "or _pre_hook): it runs code the Lipschitz bound does not see; remove it before certifying")
    for name, module in model.named_modules():
        where = f"module {name or '(the model)'} ({type(module).__name__})"
        if module._forward_hooks or module._forward_pre_hooks:
            raise ValueError(f"{where} has a forward hook or pre-hook (weight_norm and spectral_norm of "
                             "torch.nn.utils install one): it runs code the Lipschitz bound does not see; remove it "
                             "(torch.nn.utils.remove_weight_norm / remove_spectral_norm) before certifying")
        if "forward" in vars(module):
            raise ValueError(f"{where} has its own forward function set on the instance: the Lipschitz bound follows "
                             "the class's forward only; use a module class instead")
        if module.training:
            raise ValueError(f"{where} is in training mode (batch norm would use each batch's statistics); call "
                             "model.eval() before certifying")


def batch_norm_scale(bn: nn.BatchNorm2d, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The per-channel factor of an eval-mode batch norm, gamma / sqrt(running_var + eps) (1 for gamma
    without affine weights); one that normalises by the batch's own statistics has no such factor."""
    if bn.running_var is None:
        raise ValueError("BatchNorm2d with track_running_stats=False normalises each batch by its own statistics, so "
                         "an image's logits depend on the rest of the batch: no Lipschitz bound; train it with "
                         "running statistics")
    dtype = dtype or bn.running_var.dtype
    scale = 1.0 / torch.sqrt(bn.running_var.to(dtype) + bn.eps)
    return scale if bn.weight is None else bn.weight.to(dtype) * scale


def folded_kernel(conv: nn.Conv2d, bn: nn.BatchNorm2d | None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The kernel of conv followed by an eval-mode batch norm (batch_norm_scale per output channel)."""
    weight = conv.weight.to(dtype or conv.weight.dtype)
    if bn is None:
        return weight
    return weight * batch_norm_scale(bn, weight.dtype)[:, None, None, None]


def conv_pads(conv: nn.Conv2d) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding of conv, "same" and "valid" included (PyTorch's convention: an
    odd total pads one more on the right and bottom)."""
    if conv.padding == "valid":
        return 0, 0, 0, 0
    if conv.padding == "same":
        totals = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
        (top, bottom), (left, right) = [(total // 2, total - total // 2) for total in totals]
        return left, right, top, bottom
    return conv.padding[1], conv.padding[1], conv.padding[0], conv.padding[0]


def conv_operator(conv: nn.Conv2d, kernel: torch.Tensor):
    """v -> conv(v) without bias, with the module's padding mode, stride, dilation and groups."""
    if conv.padding_mode not in PAD_MODES:
        raise ValueError(f"no Lipschitz rule for padding_mode {conv.padding_mode!r}; supported: {', '.join(PAD_MODES)}")
    pads = conv_pads(conv)
    return lambda v: F.conv2d(F.pad(v, pads, mode=PAD_MODES[conv.padding_mode]), kernel, stride=conv.stride,
                              dilation=conv.dilation, groups=conv.groups)


def padding_norm(conv: nn.Conv2d, height: int, width: int) -> float:
    """||pad||: 1 for zeros; else sqrt of the most copies any pixel gets (pad^T pad is diagonal)."""
    if conv.padding_mode == "zeros":
        return 1.0
    ones = torch.ones((1, 1, height, width), dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        (copies,) = torch.autograd.grad(F.pad(ones, conv_pads(conv), mode=PAD_MODES[conv.padding_mode]).sum(), ones)
    return copies.max().sqrt().item()


def circular_conv_bound(kernel: torch.Tensor, grid: tuple[int, int], groups: int, dilation: tuple[int, int],
                        stride: tuple[int, int]) -> torch.Tensor:
    """The exact norm of the strided circular convolution on `grid` (enlarged to hold the dilated kernel and
    to a multiple of the stride, which only adds rows the real operator does not have).

    Polyphase form: with taps k = s q + r, x[s i + k] = x_r[i + q] for the phase x_r[j] = x[s j + r], so the
    strided convolution is a stride-1 circular convolution on the grid / s with s^2 times the input
    channels (a permutation of the input, which keeps norms). Its norm is the largest singular value over
    DFT frequencies of the phase kernels' spectrum, per group."""
    out_channels, in_per_group, kh, kw = kernel.shape
    taps = [d * (k - 1) + 1 for d, k in zip(dilation, (kh, kw))]
    taps = [-(-t // s) * s for t, s in zip(taps, stride)]  # whole phases
    dilated = kernel.new_zeros((out_channels, in_per_group, *taps))
    dilated[:, :, : dilation[0] * (kh - 1) + 1 : dilation[0], : dilation[1] * (kw - 1) + 1 : dilation[1]] = kernel
    coarse = [-(-max(g, t) // s) for g, t, s in zip(grid, taps, stride)]  # grid / stride, rounded up
    (s0, s1), (q0, q1) = stride, (taps[0] // stride[0], taps[1] // stride[1])
    phases = dilated.reshape(out_channels, in_per_group, q0, s0, q1, s1).permute(0, 1, 3, 5, 2, 4)
    phases = phases.reshape(out_channels, in_per_group * s0 * s1, q0, q1)
    spectrum = torch.fft.fft2(phases, s=coarse).permute(2, 3, 0, 1)  # (N, M, out, in / groups * s^2)
    blocks = spectrum.reshape(*coarse, groups, out_channels // groups, in_per_group * s0 * s1)
    return torch.linalg.matrix_norm(blocks, ord=2).max() * ROUNDING


class SoundBounds:
    """Operator norms that are upper bounds by construction (float64, no gradient)."""

    def conv(self, conv: nn.Conv2d, bn: nn.BatchNorm2d | None, shape: tuple[int, ...]) -> torch.Tensor:
        left, right, top, bottom = conv_pads(conv)
        grid = (shape[1] + top + bottom, shape[2] + left + right)
        with torch.no_grad():
            kernel = folded_kernel(conv, bn, torch.float64)
            bound = circular_conv_bound(kernel, grid, conv.groups, conv.dilation, conv.stride)
            return bound * padding_norm(conv, *shape[1:])

    def linear(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.linalg.matrix_norm(weight.double(), ord=2) * ROUNDING


class PowerIteration:
    """Operator norms by power iteration on the real operators (the module's own convolution, its adjoint
    by autograd). The vectors are cached per layer, so a few iterations per call suffice when the weights
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
        key = (id(conv), (1, *shape))
        v = self._vector(key, kernel)
        fixed = conv_operator(conv, kernel.detach())
        for _ in range(self.iterations):
            with torch.enable_grad():
                u = v.detach().div(v.norm()).requires_grad_()
                image = fixed(u)
                (v,) = torch.autograd.grad(image, u, image.detach())  # A^T A u
        self.vectors[key] = v = (v / v.norm()).detach()
        return conv_operator(conv, kernel)(v).norm()

    def linear(self, weight: torch.Tensor) -> torch.Tensor:
        key = (id(weight), (weight.shape[1],))
        v = self._vector(key, weight)
        with torch.no_grad():
            for _ in range(self.iterations):
                v = weight.T @ (weight @ (v / v.norm()))
            self.vectors[key] = v = v / v.norm()
        return (weight @ v).norm()


Norms = SoundBounds | PowerIteration


def declares(module: nn.Module, hook: str) -> bool:
    """The module's own class declares `hook` beside the forward it describes (a subclass that changes
    forward without describing it again is not followed)."""
    return hook in vars(type(module)) and "forward" in vars(type(module))


def forward_sequence(module: nn.Module) -> list[nn.Module]:
    """The modules the forward pass of `module` runs, in order: Sequentials (exact type) and architectures
    that describe their forward pass (`forward_layers`) are expanded; other modules stay whole."""
    if type(module) is nn.Sequential:
        return [layer for child in module for layer in forward_sequence(child)]
    if declares(module, "forward_layers"):
        return [layer for child in module.forward_layers() for layer in forward_sequence(child)]
    return [module]


def sequence_lipschitz(layers: list[nn.Module], shape: tuple[int, ...], norms: Norms) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(Lipschitz bound of the composition, output shape); a batch norm is folded into the conv before it."""
    total, i = torch.ones((), dtype=torch.float64), 0
    while i < len(layers):
        layer = layers[i]
        following = layers[i + 1] if i + 1 < len(layers) else None
        if type(layer) is nn.Conv2d:
            bn = following if type(following) is nn.BatchNorm2d else None
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
    kind = type(layer)
    if kind in (nn.ReLU, nn.Flatten, nn.Identity):
        return torch.ones((), dtype=torch.float64)
    if kind is nn.LeakyReLU:  # slopes 1 and a: max(1, |a|)
        return torch.tensor(max(1.0, abs(layer.negative_slope)), dtype=torch.float64)
    if kind is NormalizeLayer:
        return (1.0 / layer.std.double().abs()).max()
    if kind is nn.BatchNorm2d:
        return batch_norm_scale(layer, torch.float64).abs().max()
    if kind is nn.AdaptiveAvgPool2d and layer.output_size in (1, (1, 1)):
        return torch.tensor((shape[1] * shape[2]) ** -0.5, dtype=torch.float64)  # ||mean of HW values||
    if kind is nn.Linear:
        return norms.linear(layer.weight)
    if kind is ChannelPadShortcut:  # a subset of the pixels and zero channels: norm 1
        return torch.ones((), dtype=torch.float64)
    if declares(layer, "forward_residual"):  # activation(branch(x) + shortcut(x))
        branch, shortcut, activation = layer.forward_residual()
        inner = sequence_lipschitz(forward_sequence(nn.Sequential(*branch)), shape, norms)[0]
        outer = sequence_lipschitz(forward_sequence(nn.Sequential(*shortcut)), shape, norms)[0] if shortcut else 1.0
        return layer_lipschitz(activation, shape, norms) * (inner + outer)
    if kind is nn.Sequential:
        return sequence_lipschitz(forward_sequence(layer), shape, norms)[0]
    raise ValueError(
        f"no Lipschitz rule for {kind.__name__}; supported: Conv2d (+ BatchNorm2d), Linear, ReLU, LeakyReLU, Flatten, "
        "Identity, AdaptiveAvgPool2d(1), NormalizeLayer, BatchNorm2d, Sequential, and networks and residual blocks "
        "whose class describes its forward pass (forward_layers, forward_residual)"
    )


def split_head(model: nn.Module) -> tuple[list[nn.Module], nn.Linear]:
    """(feature layers, final linear layer): every module of the forward pass, the last one the head."""
    layers = forward_sequence(model)
    if type(layers[-1]) is not nn.Linear:
        raise ValueError(
            f"the network must end in a linear layer (the Lipschitz margin is taken at it); it ends in "
            f"{type(layers[-1]).__name__}"
        )
    return layers[:-1], layers[-1]


@dataclass(frozen=True)
class Lipschitz:
    """A sound upper bound and a power-iteration estimate of a Lipschitz constant."""

    bound: float
    estimate: float


@dataclass(frozen=True)
class LipschitzCertifier:
    """Certifies each input's prediction with the pairwise Lipschitz-margin radius, from the sound bound."""

    model: nn.Module
    features: Lipschitz
    network: Lipschitz  # the whole logit map: L_feat * ||W||_2
    head: nn.Linear
    input_shape: tuple[int, ...]  # the bounds hold for inputs of this shape only (the FFT grid)

    @classmethod
    def for_model(cls, model: nn.Module, input_shape: tuple[int, ...]) -> "LipschitzCertifier":
        model.eval()
        check_forward_is_declared(model)
        layers, head = split_head(model)
        with torch.no_grad():
            bound = sequence_lipschitz(layers, input_shape, SoundBounds())[0].item()
            estimate = sequence_lipschitz(layers, input_shape, PowerIteration())[0].item()
            head_bound = SoundBounds().linear(head.weight).item()
            head_estimate = PowerIteration().linear(head.weight).item()
        return cls(model, Lipschitz(bound, estimate), Lipschitz(bound * head_bound, estimate * head_estimate), head,
                   tuple(input_shape))

    @torch.no_grad()
    def certify(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(predictions, radii) for a batch x (B, C, H, W) of images in [0, 1] of the bounded shape."""
        check_images(x, self.input_shape)
        check_forward_is_declared(self.model)  # nothing was hooked in or switched to training since for_model
        logits = self.model(x).double()
        if not torch.isfinite(logits).all():
            raise ValueError("the model returned NaN or infinite logits: its weights are broken; nothing is certified")
        top = logits.argmax(1)
        weight = self.head.weight.detach().double()
        margins = logits.gather(1, top[:, None]) - logits  # (B, classes)
        row_gaps = (weight[top][:, None, :] - weight[None, :, :]).norm(dim=2)  # ||w_t - w_i||
        ratio = margins / (self.features.bound * row_gaps)
        ratio[torch.arange(len(top)), top] = float("inf")
        return top, ratio.min(dim=1).values.clamp(min=0.0)


@register_certifier("lipschitz-margin")
class LipschitzMargin:
    """The suite's Lipschitz-margin certifier: the sound bound of the model, computed once by `prepare`,
    then each image's pairwise margin radius."""

    kind = DETERMINISTIC

    def prepare(self, model: nn.Module, input_shape: tuple[int, ...]) -> None:
        self.certifier = LipschitzCertifier.for_model(model, input_shape)

    def __call__(self, x: torch.Tensor) -> tuple[int, float]:
        predictions, radii = self.certifier.certify(x[None])
        return int(predictions[0]), float(radii[0])


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


def lipschitz_report(certifier: LipschitzCertifier, images: torch.Tensor, labels: torch.Tensor,
                     radii: list[float], gradient_images: int = 10) -> dict[str, float]:
    """The bound against the power-iteration estimate and the largest observed local gradient norm (on the
    first `gradient_images` images), and the certified accuracy (correct and radius >= r) at each r."""
    predictions, certified = [], []
    for batch in torch.split(images, 256):
        p, r = certifier.certify(batch)
        predictions.append(p)
        certified.append(r)
    predictions, certified = torch.cat(predictions), torch.cat(certified)
    correct = predictions.cpu() == labels
    gradients = observed_gradient_norms(certifier.model, images[:gradient_images])
    return dict(images=len(images), bound=certifier.network.bound, power_iteration_estimate=certifier.network.estimate,
                max_observed_gradient_norm=max(gradients), median_radius=certified.median().item(),
                **{f"certified_accuracy_r={r:.4g}": (correct & (certified.cpu() >= r)).sum().item() / len(images)
                   for r in radii})
