"""Fast path (compile, channels_last, precision) and the automatic batch size."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from bench.cli import main
from bench.records import read_run
from bench.runner import run_suite
from smoothing.architectures import create_architecture
from smoothing.batch_size import (
    auto_batch_size,
    bytes_per_sample,
    fastest_power_of_two,
    forward_fits,
    largest_power_of_two,
)
from smoothing.checkpoints import save_checkpoint
from smoothing.sampler import FastPath, NoiseSampler


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)).eval()


class CountingForward(nn.Module):
    """Wraps a model and records the batch size of every call."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.batch_sizes = model, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x.shape[0])
        return self.model(x)


@pytest.mark.parametrize("num,batch", [(301, 128), (64, 64), (7, 100)])  # 602 rows: 5 batches of 121, 3 padded
def test_compiled_sampler_counts_like_eager(num, batch):
    """Same seed, same noise: compiling changes neither the draws nor which rows are counted (the padding)."""
    model, x = conv_net(), torch.rand(2, 3, 8, 8)
    eager = NoiseSampler(model, 10, 0.5, seed=5).counts(x, num, batch)
    compiled = NoiseSampler(model, 10, 0.5, fast_path=FastPath(compile=True), seed=5).counts(x, num, batch)
    assert (compiled.sum(axis=1) == num).all()
    np.testing.assert_array_equal(compiled, eager)


def test_compiled_sampler_keeps_one_batch_shape(monkeypatch):
    """300 samples in batches of at most 128: three equal batches of 100, so one compiled shape, no tail."""
    model = CountingForward(conv_net())
    monkeypatch.setattr(FastPath, "prepare", lambda self, module, device: module)  # count calls, compiled or not
    NoiseSampler(model, 10, 0.5, fast_path=FastPath(compile=True)).counts(torch.rand(1, 3, 8, 8), 300, 128)
    assert model.batch_sizes == [100, 100, 100]
    model.batch_sizes.clear()
    NoiseSampler(model, 10, 0.5, fast_path=FastPath(compile=False)).counts(torch.rand(1, 3, 8, 8), 300, 128)
    assert model.batch_sizes == [128, 128, 44]


def test_fast_path_labels_and_errors():
    assert FastPath().label() == "fp32"
    assert FastPath("bf16", channels_last=True, compile=True).label() == "bf16+channels_last+compile"
    with pytest.raises(ValueError, match="unknown precision 'int8'; choose one of fp32, bf16, fp16"):
        FastPath("int8")


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


def test_cli_batch_auto_and_fast_path(tmp_path, capsys):
    checkpoint = tmp_path / "model.pth.tar"
    save_checkpoint(checkpoint, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    out = tmp_path / "certify.tsv"
    arguments = ["certify", "cifar10-embedded", str(checkpoint), "0.25", str(out), "--N0", "10", "--N", "50",
                 "--max", "2", "--device", "cpu", "--channels-last"]
    assert main([*arguments, "--batch", "auto"]) == 0
    assert "batch size: " in capsys.readouterr().err and len(out.read_text().splitlines()) == 3
    assert main([*arguments, "--batch", "many"]) == 2
    assert 'batch size must be a positive integer or "auto", got \'many\'' in capsys.readouterr().err


def test_runner_records_the_fast_path(suite, tmp_path):
    fast = suite.with_overrides(dict(batch="auto", channels_last=True, certifiers=["gaussian"]))
    frame = read_run(run_suite(fast, tmp_path / "runs", device="cpu"))
    assert (frame["channels_last"] == 1).all() and (frame["compile"] == 0).all()
    assert frame["batch"].nunique() == 1 and int(frame["batch"].iloc[0]) >= 1  # read as text: "" for deterministic rows
