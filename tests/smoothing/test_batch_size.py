"""The automatic batch size (smoothing.batch_size): largest that fits on a GPU, fastest on a CPU, cached."""
import json

import pytest
import torch
from torch import nn

from smoothing.architectures import create_architecture
from smoothing.batch_size import (
    auto_batch_size,
    bytes_per_sample,
    fastest_power_of_two,
    forward_fits,
    largest_power_of_two,
)
from smoothing.sampler import FastPath
from tests.helpers import cuda_conv_net


@pytest.mark.cuda
def test_auto_batch_size_fits_on_the_device():
    batch = auto_batch_size(cuda_conv_net(), (3, 8, 8), limit=4096)
    assert batch == 4096  # a tiny net fits the limit on any GPU


def test_largest_power_of_two():
    assert largest_power_of_two(lambda b: b <= 100, limit=1024) == 64
    assert largest_power_of_two(lambda b: True, limit=1000) == 512
    with pytest.raises(MemoryError, match="not even one noisy sample fits"):
        largest_power_of_two(lambda b: False, limit=8)


class RunsOutOfMemory(nn.Module):
    """Raises CUDA's out-of-memory error above `capacity` rows, as a GPU would."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.capacity:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return x.flatten(1)


def test_forward_fits_catches_out_of_memory_only():
    fits = forward_fits(RunsOutOfMemory(300), (1, 2, 2), torch.device("cpu"), FastPath())
    assert largest_power_of_two(fits, limit=8192) == 256
    broken = forward_fits(lambda x: 1 / 0, (1, 2, 2), torch.device("cpu"), FastPath())
    with pytest.raises(ZeroDivisionError):  # a bug is not "does not fit"
        broken(1)


def test_cpu_batch_is_the_fastest_not_the_largest():
    """CPU throughput peaks and then falls as activations outgrow the caches: pick the peak, stop probing
    once past it, and never exceed the largest batch that fits."""
    measured = {1: 100, 2: 180, 4: 300, 8: 420, 16: 500, 32: 510, 64: 530, 128: 450, 256: 300, 512: 200}
    probed = []
    rate = lambda batch: probed.append(batch) or measured[batch]
    assert fastest_power_of_two(rate, largest=512) == 64
    assert probed == [1, 2, 4, 8, 16, 32, 64, 128, 256]  # 300 < 0.8 x 530 ends the search
    assert fastest_power_of_two(measured.get, largest=32) == 32
    assert fastest_power_of_two(lambda batch: float(batch), largest=1024) == 1024


def test_bytes_per_sample_counts_input_noise_and_every_output():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU()).eval()
    float64_noise = 8 * 12
    assert bytes_per_sample(model, (3, 2, 2), torch.device("cpu"), FastPath()) == float64_noise + 4 * (12 + 12 + 5 + 5)


def test_auto_batch_size_is_found_once_and_cached(batch_size_cache, monkeypatch):
    model = create_architecture("cifar_resnet20", "cifar10")
    first = auto_batch_size(model, (3, 32, 32), limit=512)
    assert first in {2 ** k for k in range(10)}
    assert list(json.loads(batch_size_cache.read_text()).values()) == [first]
    with monkeypatch.context() as patched:
        for probe in ("bytes_per_sample", "forward_samples_per_second"):
            patched.setattr(f"smoothing.batch_size.{probe}", lambda *a: pytest.fail("cache not used"))
        assert auto_batch_size(model, (3, 32, 32), limit=512) == first
    batch_size_cache.write_text("{not json")  # a damaged cache is rebuilt, not an error
    rebuilt = auto_batch_size(model, (3, 32, 32), limit=512)  # measured again: timing may pick another peak
    assert list(json.loads(batch_size_cache.read_text()).values()) == [rebuilt]

