"""Monte Carlo counts of the base classifier's votes under Gaussian noise.

counts[i, c] = #{ j : argmax f(x_i + e_j) = c },  e_j ~ N(0, sigma^2 I), drawn in input pixel space.

Noise is drawn in place into one preallocated buffer on the model's device, the image is broadcast
into it (never repeated), votes are accumulated on the device, and the counts cross to the host once
per call. Memory is O(batch_size) whatever the number of samples. Several images are packed into one
batch when the number of samples per image is smaller than the batch.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from smoothing.statistics import check_sigma

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_images(images: torch.Tensor, input_shape: tuple[int, ...] | None = None) -> None:
    """Reject what cannot be certified: wrong shape, NaN or infinite pixels."""
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
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or infinite pixels; clean the input (pixels lie in [0, 1])")


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
        precision: str = "fp32",
        channels_last: bool = False,
        seed: int | None = None,
        input_shape: tuple[int, ...] | None = None,
    ):
        check_sigma(sigma)
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.model = model
        self.num_classes = num_classes
        self.sigma = float(sigma)
        self.precision = precision
        self.channels_last = channels_last
        self.input_shape = input_shape  # checked on every call when given
        self.device = next(model.parameters(), torch.empty(0)).device
        self.generator = None if seed is None else torch.Generator(self.device).manual_seed(seed)
        if channels_last:
            model.to(memory_format=torch.channels_last)

    def manual_seed(self, seed: int) -> None:
        """Restart the noise stream from `seed` (creates the generator if the sampler had none)."""
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    @torch.no_grad()
    def _sample(
        self, images: torch.Tensor, num: int, batch_size: int,
        accumulate: Callable[[torch.Tensor, torch.Tensor], object],
    ) -> None:
        """Draw num noisy copies of each image, in batches; accumulate(logits, image_of_each_row) per batch."""
        check_images(images, self.input_shape)
        if num < 1 or batch_size < 1:
            raise ValueError(f"num and batch_size must be positive, got num={num}, batch_size={batch_size}")
        images = images.to(self.device, torch.float32)
        total = images.shape[0] * num
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        noise = torch.empty(
            (min(batch_size, total), *images.shape[1:]), device=self.device, memory_format=memory_format
        )
        rows = torch.arange(noise.shape[0], device=self.device)
        for start in range(0, total, noise.shape[0]):
            size = min(noise.shape[0], total - start)
            batch = noise[:size].normal_(0.0, self.sigma, generator=self.generator)
            for image, lo, hi in _image_segments(start, size, num):
                batch[lo:hi] += images[image]
            with self.autocast():
                logits = self.model(batch)
            accumulate(logits, (rows[:size] + start) // num)

    def counts(self, images: torch.Tensor, num: int, batch_size: int) -> np.ndarray:
        """Vote counts shaped (B, num_classes): counts[i, c] = #{j : argmax f(x_i + e_j) = c}."""
        classes = self.num_classes
        votes = torch.zeros(len(images) * classes, dtype=torch.long, device=self.device)
        # index_add_ rather than bincount: on CUDA bincount syncs with the host to size its output.
        self._sample(images, num, batch_size, lambda logits, image: votes.index_add_(
            0, image * classes + logits.argmax(1), torch.ones_like(image)))
        return votes.view(len(images), classes).cpu().numpy()

    def score_sums(self, images: torch.Tensor, num: int, batch_size: int) -> np.ndarray:
        """Sums of softmax scores shaped (B, num_classes): sum_j softmax(f(x_i + e_j))_c (PixelDP's estimator)."""
        sums = torch.zeros(len(images), self.num_classes, dtype=torch.float64, device=self.device)
        self._sample(images, num, batch_size, lambda logits, image: sums.index_add_(
            0, image, logits.double().softmax(1)))
        return sums.cpu().numpy()


def image_seed(seed: int, index: int) -> int:
    """A per-image seed, so that a resumed or sharded run draws the same noise for image `index`."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)
