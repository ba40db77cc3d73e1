"""Claims only a GPU can check; skipped on machines without CUDA (run them on a GPU box with `make test`)."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from smoothing.batch_size import auto_batch_size
from smoothing.sampler import FastPath, NoiseSampler

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(32, 10)).cuda().eval()


def synchronizations(run) -> int:
    """Host-device synchronizations during run(), as counted by CUDA's sync debug mode."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def test_no_host_sync_per_batch():
    """The sampler syncs a fixed number of times per call (the final copy of the counts), not per batch."""
    sampler, x = NoiseSampler(conv_net(), 10, 0.25, seed=0), torch.rand(1, 3, 8, 8)
    sampler.counts(x, 100, 50)  # warm-up
    few = synchronizations(lambda: sampler.counts(x, 2 * 50, 50))
    many = synchronizations(lambda: sampler.counts(x, 40 * 50, 50))
    assert many == few


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_compiled_cuda_graphs_count_like_eager(precision):
    model, x = conv_net(), torch.rand(2, 3, 8, 8)
    eager = NoiseSampler(model, 10, 0.5, fast_path=FastPath(precision), seed=3).counts(x, 1001, 256)
    compiled = NoiseSampler(model, 10, 0.5, fast_path=FastPath(precision, compile=True), seed=3).counts(x, 1001, 256)
    assert (compiled.sum(axis=1) == 1001).all()
    # Fused kernels may round differently, so a vote on a near-tie can flip; the counts stay within a few.
    assert np.abs(compiled - eager).max() <= 5


def test_auto_batch_size_fits_on_the_device():
    batch = auto_batch_size(conv_net(), (3, 8, 8), limit=4096)
    assert batch == 4096  # a tiny net fits the limit on any GPU
