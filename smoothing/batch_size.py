"""Automatic batch size, found once per model and cached.

On a GPU it is the largest batch that fits: a forward pass at that size runs without running out of
memory (tried, by doubling). On a CPU the largest batch is not the fastest: once a layer's activations
outgrow the caches, throughput falls (measured on a 2-core machine, ResNet-110 on CIFAR-10: 360 samples/s
at batch 32, 288 at 256, 169 at 512). So on a CPU the batch is the power of two with the highest measured
forward throughput, among those that stay within half of the available memory by an upper bound on
their footprint: the sum of all intermediate outputs of one sample (without autograd, a forward pass
never holds more than all of them at once) times the batch. Probes run the eager model with the fast
path's precision and memory format (compiling every probed shape would take minutes). Results are cached
in $SMOOTHBENCH_CACHE/batch_sizes.json (default ~/.cache/smoothbench), keyed by model, input shape,
device, fast path and torch version.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from smoothing.sampler import NOISE_DTYPE, FastPath

LIMITS = {"cuda": 8192, "cpu": 1024}
PAST_THE_PEAK = 0.8  # a CPU probe slower than this fraction of the best so far ends the search


def cache_path() -> Path:
    root = os.environ.get("SMOOTHBENCH_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "smoothbench"
    return Path(root) / "batch_sizes.json"


def largest_power_of_two(fits: Callable[[int], bool], limit: int) -> int:
    """The largest b = 2^k <= limit with fits(b), doubling from 1 (fits is monotone: smaller batches fit too)."""
    if not fits(1):
        raise MemoryError("not even one noisy sample fits in memory; free memory or use a smaller model")
    batch = 1
    while 2 * batch <= limit and fits(2 * batch):
        batch *= 2
    return batch


def probe_input(batch: int, input_shape: tuple[int, ...], device: torch.device, fast_path: FastPath) -> torch.Tensor:
    """A batch of random images in the fast path's memory format, as the sampler would feed them."""
    return torch.rand((batch, *input_shape), device=device).to(memory_format=fast_path.memory_format())


def forward_fits(forward: Callable[[torch.Tensor], object], input_shape: tuple[int, ...], device: torch.device,
                 fast_path: FastPath) -> Callable[[int], bool]:
    """fits(b): a forward pass of b noisy samples runs without an out-of-memory error."""

    @torch.no_grad()
    def fits(batch: int) -> bool:
        try:
            with fast_path.autocast(device):
                noise = torch.empty((batch, *input_shape), dtype=NOISE_DTYPE, device=device)  # the sampler's draw
                forward(probe_input(batch, input_shape, device, fast_path))
                del noise
            return True
        except torch.cuda.OutOfMemoryError:
            return False
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()

    return fits


def fastest_power_of_two(samples_per_second: Callable[[int], float], largest: int) -> int:
    """The b = 2^k <= largest with the highest samples_per_second(b), doubling from 1 until a batch runs
    slower than PAST_THE_PEAK x the best so far."""
    best, best_rate, batch = 1, samples_per_second(1), 1
    while 2 * batch <= largest:
        batch *= 2
        rate = samples_per_second(batch)
        if rate > best_rate:
            best, best_rate = batch, rate
        elif rate < PAST_THE_PEAK * best_rate:
            break
    return best


def forward_samples_per_second(forward: Callable[[torch.Tensor], object], input_shape: tuple[int, ...],
                               device: torch.device, fast_path: FastPath, seconds: float = 0.3) -> Callable[[int], float]:
    """samples_per_second(b): forward passes of b random inputs after one warm-up, repeated for at least
    `seconds` and at least twice, samples over wall time."""

    @torch.no_grad()
    def samples_per_second(batch: int) -> float:
        inputs = probe_input(batch, input_shape, device, fast_path)
        with fast_path.autocast(device):
            forward(inputs)
            passes, started = 0, time.perf_counter()
            while passes < 2 or time.perf_counter() - started < seconds:
                forward(inputs)
                passes += 1
        return passes * batch / (time.perf_counter() - started)

    return samples_per_second


@torch.no_grad()
def bytes_per_sample(model: nn.Module, input_shape: tuple[int, ...], device: torch.device, fast_path: FastPath) -> int:
    """Upper bound on one sample's footprint: its float32 input and the sampler's float64 noise, plus every
    leaf module's output."""
    sizes = [(4 + NOISE_DTYPE.itemsize) * torch.Size(input_shape).numel()]
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.nbytes if torch.is_tensor(out) else 0))
             for m in model.modules() if not list(m.children())]
    try:
        with fast_path.autocast(device):
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return sum(sizes)


def _read_cache(path: Path) -> dict[str, int]:
    """The cache's entries; a missing or damaged cache file is an empty cache (it is rebuilt)."""
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def available_memory_bytes() -> int:
    with open("/proc/meminfo") as f:
        return int(dict(line.split(":", 1) for line in f)["MemAvailable"].split()[0]) * 1024


def auto_batch_size(model: nn.Module, input_shape: tuple[int, ...], fast_path: FastPath = FastPath(),
                    limit: int | None = None) -> int:
    """The batch for this model, device and fast path (cached): on a GPU the largest power of two <= limit
    that fits; on a CPU the fastest power of two <= limit within the memory budget."""
    device = next(model.parameters()).device
    limit = limit or LIMITS["cuda" if device.type == "cuda" else "cpu"]
    device_label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (fastest)"
    key = "|".join([type(model).__name__, str(sum(p.numel() for p in model.parameters())), str(tuple(input_shape)),
                    device_label, fast_path.label(), f"limit={limit}", f"noise={NOISE_DTYPE}", torch.__version__])
    path = cache_path()
    cache = _read_cache(path)
    if key not in cache:
        model.eval()
        eager = replace(fast_path, compile=False).prepare(model, device)  # one compile per probed size would be slow
        if device.type == "cuda":
            cache[key] = largest_power_of_two(forward_fits(eager, input_shape, device, fast_path), limit)
        else:
            per_sample, budget = bytes_per_sample(model, input_shape, device, fast_path), available_memory_bytes() // 2
            largest = largest_power_of_two(lambda batch: batch * per_sample <= budget, limit)
            cache[key] = fastest_power_of_two(forward_samples_per_second(eager, input_shape, device, fast_path), largest)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
        temporary.replace(path)
    return cache[key]
