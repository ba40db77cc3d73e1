"""Monte Carlo counts of the base classifier's votes under Gaussian noise.

counts[i, c] = #{ j : argmax f(x_i + e_j) = c },  e_j ~ N(0, sigma^2 I), drawn in input pixel space.

Noise is drawn in place into one preallocated buffer on the model's device, the image is broadcast
into it (never repeated), votes are accumulated on the device, and the counts cross to the host once
per call. Memory is O(batch_size) whatever the number of samples. Several images are packed into one
batch when the number of samples per image is smaller than the batch.

The noise has the theorem's tails. torch draws normals by Box-Muller, R = sqrt(-2 ln u), from uniforms u
on a grid: in float32 that grid is 2^-24 (CPU) or 2^-32 (CUDA), so no draw exceeds 5.77 (6.7) sigma and
the noise differs from N(0, sigma^2 I) on an event of probability d x 8e-9 (d x 3e-11) per sample, which
is 1.2e-3 for an ImageNet image (Voracek & Hein, ICLR 2023, on such gaps). Here each batch of noise is
drawn in float64 (53-bit uniforms on both devices: draws reach 8.6 sigma), added to the image in float64
and rounded once to float32, the precision the network reads. Float64's uniform grid resolves the radius
more finely than float32 represents it wherever u >= 2^-36; the pairs of coordinates drawn below that
(probability 2^-36 each, radius > 7 sigma) are where the drawn noise may still differ from the Gaussian.
Their probability, noise_tail_gap(d) = ceil(d / 2) 2^-36 (2.2e-8 for CIFAR-10, 1.1e-6 for ImageNet),
bounds |P(f(x + e_drawn) = c) - P(f(x + e) = c)| for every class c, and CERTIFY subtracts it from pA_lower
(smoothing.core). Rounding x + e to float32 itself, at the scale of one float32 ulp, is the network's
input precision and is not modelled (as in Cohen et al.; Voracek & Hein show it can be exploited by a
network built to do so).

`FastPath` picks how the base classifier runs. Reduced precision (bf16/fp16 autocast) certifies the
reduced-precision network f_bf16, not the fp32 one: the certificate is sound for the classifier that
was sampled, and fp32 is the default so that results match the reference. Noise is always drawn and
added in fp32, so the samples are exactly x + e with e ~ N(0, sigma^2 I) before f sees them.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from smoothing.statistics import check_sigma

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
MAX_SIGMA = torch.finfo(torch.float32).max / 1e3  # float32 noise of scale sigma stays finite (|e| < 1000 sigma)
NOISE_DTYPE = torch.float64  # Box-Muller on 53-bit uniforms: exact tails far below any alpha (see above)
TAIL_GAP_PER_PAIR = 2.0**-36  # P(u < 2^-36): where float64's uniform grid is coarser than float32's radius


def noise_tail_gap(dimension: int) -> float:
    """Upper bound on the total-variation distance between the drawn noise of `dimension` coordinates and
    N(0, sigma^2 I): ceil(d / 2) Box-Muller pairs, each drawn from its coarse tail with probability 2^-36."""
    return math.ceil(dimension / 2) * TAIL_GAP_PER_PAIR


@dataclass(frozen=True)
class FastPath:
    """How the base classifier runs: autocast precision, channels_last memory format, and torch.compile
    (with CUDA graphs on a GPU, mode "reduce-overhead"). A compiled sampler feeds every batch at the one
    fixed shape of its noise buffer (a short last batch is padded and the padding's votes are dropped),
    so a certification compiles once per batch shape instead of once per tail size."""

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        dtype = PRECISIONS[self.precision]
        return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)

    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def prepare(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module to call: the model in its memory format, compiled when asked. Dynamo caches the
        compiled code per model, so preparing the same model again does not recompile."""
        model.to(memory_format=self.memory_format())
        if not self.compile:
            return model
        return torch.compile(model, dynamic=False, mode="reduce-overhead" if device.type == "cuda" else None)

    def label(self) -> str:
        """E.g. "bf16+channels_last+compile": the row value that names this fast path."""
        return "+".join([self.precision] + ["channels_last"] * self.channels_last + ["compile"] * self.compile)


def check_images(images: torch.Tensor, input_shape: tuple[int, ...] | None = None) -> None:
    """Reject what cannot be certified: wrong shape, integer pixels, NaN or infinite pixels, pixels
    outside [0, 1] (the noise level sigma is meant in units of that range)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(
            f"expected a batch of images shaped (B, C, H, W), got shape {tuple(images.shape)}; "
            "for one image x shaped (C, H, W) pass x.unsqueeze(0)"
        )
    if input_shape is not None and tuple(images.shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"the model expects images shaped {tuple(input_shape)}, got {tuple(images.shape[1:])}; "
            "check the dataset's transform (resize/crop) against the architecture"
        )
    if not images.is_floating_point():
        raise ValueError(
            f"images are {images.dtype}, expected floating-point pixels in [0, 1]; convert 0-255 images with "
            "x.float() / 255 (torchvision's ToTensor does this)"
        )
    low, high = torch.stack(torch.aminmax(images)).tolist()  # NaN propagates; one host sync
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("images contain NaN or infinite pixels; clean the input (pixels lie in [0, 1])")
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"pixels must lie in [0, 1], got values from {low:g} to {high:g}; divide 0-255 images by 255 "
            "and keep normalisation inside the model (NormalizeLayer)"
        )


def _image_segments(start: int, size: int, num: int) -> Iterator[tuple[int, int, int]]:
    """(image, lo, hi): rows [lo, hi) of the batch covering global samples [start, start + size)
    belong to image `image`, when image i owns global samples [i * num, (i + 1) * num)."""
    for image in range(start // num, (start + size - 1) // num + 1):
        lo = max(image * num, start) - start
        hi = min((image + 1) * num, start + size) - start
        yield image, lo, hi


class NoiseSampler:
    """Draws counts of argmax f(x + e), e ~ N(0, sigma^2 I), for a batch of images."""

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        sigma: float,
        *,
        fast_path: FastPath = FastPath(),
        seed: int | None = None,
        input_shape: tuple[int, ...] | None = None,
    ):
        check_sigma(sigma)
        if sigma > MAX_SIGMA:
            raise ValueError(f"sigma = {sigma:g} overflows float32 noise; the largest usable sigma is {MAX_SIGMA:g}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.model = model
        self.num_classes = num_classes
        self.sigma = float(sigma)
        self.fast_path = fast_path
        self.input_shape = input_shape  # checked on every call when given
        self.device = next(model.parameters(), torch.empty(0)).device
        self.generator = None if seed is None else torch.Generator(self.device).manual_seed(seed)
        self.forward = fast_path.prepare(model, self.device)

    def manual_seed(self, seed: int) -> None:
        """Restart the noise stream from `seed` (creates the generator if the sampler had none)."""
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def autocast(self) -> contextlib.AbstractContextManager:
        return self.fast_path.autocast(self.device)

    @torch.no_grad()
    def _sample(
        self, images: torch.Tensor, num: int, batch_size: int,
        accumulate: Callable[[torch.Tensor, torch.Tensor], object],
    ) -> None:
        """Draw num noisy copies of each image, in batches; accumulate(logits, image_of_each_row) per batch.
        Logits of the wrong width are refused at the first batch; non-finite logits are counted on the
        device and refused at the end of the call (no host sync per batch), before any count is returned."""
        check_images(images, self.input_shape)
        if num < 1 or batch_size < 1:
            raise ValueError(f"num and batch_size must be positive, got num={num}, batch_size={batch_size}")
        images = images.to(self.device, NOISE_DTYPE)
        total = images.shape[0] * num
        rows_per_batch = min(batch_size, total)
        if self.fast_path.compile:  # equal batches, so the padding of the last one is < one row per batch
            rows_per_batch = math.ceil(total / math.ceil(total / batch_size))
        exact = torch.empty((rows_per_batch, *images.shape[1:]), device=self.device, dtype=NOISE_DTYPE)
        noise = torch.empty(
            (rows_per_batch, *images.shape[1:]), device=self.device, memory_format=self.fast_path.memory_format()
        ).zero_()  # zeroed: a compiled call also reads the padding rows
        rows = torch.arange(noise.shape[0], device=self.device)
        nonfinite = torch.zeros((), dtype=torch.long, device=self.device)
        for start in range(0, total, noise.shape[0]):
            size = min(noise.shape[0], total - start)
            drawn = exact[:size].normal_(0.0, self.sigma, generator=self.generator)
            for image, lo, hi in _image_segments(start, size, num):
                drawn[lo:hi] += images[image]
            batch = noise[:size].copy_(drawn)  # x + e rounded once to float32
            with self.autocast():
                # Compiled: always the full buffer (fixed shape); rows past `size` are padding, not counted.
                logits = self.forward(noise)[:size] if self.fast_path.compile else self.forward(batch)
            if logits.dim() != 2 or logits.shape[1] != self.num_classes:
                raise ValueError(
                    f"the base classifier returns logits shaped {tuple(logits.shape)}, expected (batch, "
                    f"{self.num_classes}) for num_classes = {self.num_classes}; pass the model's number of classes"
                )
            nonfinite += (~torch.isfinite(logits)).any(dim=1).sum()
            accumulate(logits, (rows[:size] + start) // num)
        if nonfinite.item():
            raise ValueError(
                f"the base classifier returned NaN or infinite logits on {nonfinite.item()} of {total} noisy inputs "
                f"(sigma = {self.sigma:g}): its weights are broken or the input overflows it; nothing is certified"
            )

    def tally(self, images: torch.Tensor, num: int, batch_size: int, scores: bool = False
              ) -> tuple[np.ndarray, np.ndarray | None]:
        """(counts, score sums) of one sampling pass, each shaped (B, num_classes):
        counts[i, c] = #{j : argmax f(x_i + e_j) = c}, and with `scores` also
        sums[i, c] = sum_j softmax(f(x_i + e_j))_c (PixelDP's estimator), from the same samples."""
        classes = self.num_classes
        votes = torch.zeros(len(images) * classes, dtype=torch.long, device=self.device)
        sums = torch.zeros(len(images), classes, dtype=torch.float64, device=self.device) if scores else None

        def accumulate(logits: torch.Tensor, image: torch.Tensor) -> None:
            # index_add_ rather than bincount: on CUDA bincount syncs with the host to size its output.
            votes.index_add_(0, image * classes + logits.argmax(1), torch.ones_like(image))
            if sums is not None:
                sums.index_add_(0, image, logits.double().softmax(1))

        self._sample(images, num, batch_size, accumulate)
        return votes.view(len(images), classes).cpu().numpy(), None if sums is None else sums.cpu().numpy()

    def counts(self, images: torch.Tensor, num: int, batch_size: int) -> np.ndarray:
        """Vote counts shaped (B, num_classes): counts[i, c] = #{j : argmax f(x_i + e_j) = c}."""
        return self.tally(images, num, batch_size)[0]


def image_seed(seed: int, index: int) -> int:
    """A per-image seed, so that a resumed or sharded run draws the same noise for image `index`."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)
