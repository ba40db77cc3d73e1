"""pytest-benchmark timings of the sampler (make benchmark): the forward-pass ceiling, ours, the reference's loop."""
import numpy as np
import pytest
import torch

from bench.tools.throughput import reference_style_counts
from smoothing.architectures import create_architecture
from smoothing.sampler import NoiseSampler
from smoothing.statistics import clopper_pearson_lower

NUM, BATCH, SIGMA = 400, 200, 0.25


@pytest.fixture(scope="module")
def model():
    return create_architecture("cifar_resnet20", "cifar10").eval()


@pytest.fixture(scope="module")
def image():
    return torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))


@torch.no_grad()
def test_ceiling_plain_forward(benchmark, model, image):
    noisy = image + SIGMA * torch.randn(BATCH, 3, 32, 32)
    benchmark(lambda: [model(noisy).argmax(1) for _ in range(NUM // BATCH)])


def test_ours_sampler(benchmark, model, image):
    sampler = NoiseSampler(model, 10, SIGMA)
    counts = benchmark(sampler.counts, image[None], NUM, BATCH)
    assert counts.sum() == NUM


def test_reference_style_loop(benchmark, model, image):
    counts = benchmark(reference_style_counts, model, image, NUM, SIGMA, BATCH, 10)
    assert counts.sum() == NUM


def test_clopper_pearson_vectorised(benchmark):
    counts = np.random.default_rng(0).integers(0, 100_001, 10_000)
    bounds = benchmark(clopper_pearson_lower, counts, 100_000, 0.001)
    assert bounds.shape == (10_000,)

