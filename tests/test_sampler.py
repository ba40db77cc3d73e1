import sys

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm
from torch import nn

from bench.throughput import reference_style_counts
from smoothing.sampler import FastPath, NoiseSampler, image_seed


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10)
    ).eval()


@pytest.mark.parametrize("num,batch", [(250, 100), (100, 100), (37, 1000)])
def test_counts_match_reference_loop(num, batch):
    """Same seed, same batches: our in-place noise buffer gives exactly the reference loop's votes."""
    model, x = small_net(), torch.rand(3, 8, 8)
    ours = NoiseSampler(model, 10, 0.5, seed=123).counts(x[None], num, batch)[0]
    reference = reference_style_counts(model, x, num, 0.5, batch, 10, torch.Generator().manual_seed(123))
    np.testing.assert_array_equal(ours, reference)
    assert ours.sum() == num


class ConstantImageClassifier(nn.Module):
    """Predicts round(4 x mean pixel): tells packed images apart when the noise is small."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -(4 * x.mean(dim=(1, 2, 3))[:, None] - torch.arange(5.0)).abs()

    def parameters(self, recurse: bool = True):
        return iter([torch.zeros(1)])


@pytest.mark.parametrize("num,batch", [(7, 5), (5, 5), (3, 100), (11, 4)])
def test_packed_images_are_counted_separately(num, batch):
    images = (torch.arange(5.0) / 4)[:, None, None, None].expand(5, 1, 4, 4)
    counts = NoiseSampler(ConstantImageClassifier(), 5, 0.01, seed=0).counts(images, num, batch)
    np.testing.assert_array_equal(counts, num * np.eye(5, dtype=int))


@pytest.mark.parametrize("batch", [1, 7, 1000, 5000])
def test_batch_size_does_not_change_the_distribution(linear_model, batch):
    """On the linear model P(class 1) is known; the counts must be Binomial(n, p) whatever the batch."""
    sigma, num = 0.5, 3000
    x = torch.full((1, 1, 8, 8), 0.45)
    p = norm.cdf((x.flatten() @ linear_model.w + linear_model.b).item() / (sigma * linear_model.w.norm().item()))
    counts = NoiseSampler(linear_model, 2, sigma, seed=batch).counts(x, num, batch)[0]
    assert counts.sum() == num
    low, high = binom.interval(1 - 1e-6, num, p)
    assert low <= counts[1] <= high


def test_seeded_runs_repeat_and_image_seeds_differ():
    model, x = small_net(), torch.rand(1, 3, 8, 8)
    first = NoiseSampler(model, 10, 1.0, seed=9).counts(x, 500, 64)
    again = NoiseSampler(model, 10, 1.0, seed=9).counts(x, 500, 64)
    np.testing.assert_array_equal(first, again)
    assert image_seed(0, 1) != image_seed(0, 2) and image_seed(0, 1) == image_seed(0, 1)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_counts(precision):
    counts = NoiseSampler(small_net(), 10, 0.25, fast_path=FastPath(precision, channels_last=True), seed=0).counts(
        torch.rand(2, 3, 8, 8), 300, 128
    )
    assert counts.shape == (2, 10) and (counts.sum(axis=1) == 300).all()


def _peak_rss_since_reset() -> int:
    """Bytes of the process's peak resident set since the last reset (Linux)."""
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmHWM"].split()[0]) * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self peak memory")
def test_memory_does_not_grow_with_n():
    """200,000 samples of a 1x16x16 image would be 205 MB if held at once; batches of 500 are 0.5 MB."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(256, 10)).eval()
    sampler = NoiseSampler(model, 10, 0.5, seed=0)
    x = torch.rand(1, 1, 16, 16)
    sampler.counts(x, 1000, 500)  # warm up allocator and kernels
    baseline = _peak_rss_since_reset()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak to the current resident set
    baseline = min(baseline, _peak_rss_since_reset())
    counts = sampler.counts(x, 200_000, 500)
    assert counts.sum() == 200_000
    assert _peak_rss_since_reset() - baseline < 50 * 2**20


@pytest.mark.parametrize("shape,independent", [((3, 32, 32), True), ((3, 4, 4), True), ((1, 2, 5), False)])
def test_noise_stream_and_batch_size(shape, independent):
    """The README's condition: the CPU noise stream is the same whatever the batch when each batch holds a
    multiple of 16 noise values (CIFAR-10 images: 3,072), and may differ otherwise."""
    def draw(batches):
        generator = torch.Generator().manual_seed(0)
        return torch.cat([torch.empty((rows, *shape)).normal_(generator=generator) for rows in batches])

    assert torch.equal(draw([8]), draw([3, 5])) == independent
