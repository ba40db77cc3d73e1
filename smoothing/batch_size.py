"""Automatic batch size: the largest batch of noisy samples that fits, found once per model and cached.

On a GPU a batch fits when a forward pass at that size runs without running out of memory (tried, by
doubling). On a CPU nothing is tried: a batch fits when it stays within half of the available
memory by an upper bound on its footprint, the sum of all intermediate outputs of one sample (without
autograd, a forward pass never holds more than all of them at once) times the batch. Results are cached
in $SMOOTHBENCH_CACHE/batch_sizes.json (default ~/.cache/smoothbench), keyed by model, input shape,
device, fast path and torch version.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from smoothing.sampler import FastPath

LIMITS = {"cuda": 8192, "cpu": 1024}  # the CPU's throughput stops growing long before memory runs out


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


def forward_fits(forward: Callable[[torch.Tensor], object], input_shape: tuple[int, ...], device: torch.device,
                 fast_path: FastPath) -> Callable[[int], bool]:
    """fits(b): a forward pass of b noisy samples runs without an out-of-memory error."""

    @torch.no_grad()
    def fits(batch: int) -> bool:
        try:
            with fast_path.autocast(device):
                forward(torch.zeros((batch, *input_shape), device=device).to(memory_format=fast_path.memory_format()))
            return True
        except torch.cuda.OutOfMemoryError:
            return False
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()

    return fits


@torch.no_grad()
def bytes_per_sample(model: nn.Module, input_shape: tuple[int, ...], device: torch.device, fast_path: FastPath) -> int:
    """Upper bound on one sample's forward footprint: its input plus every leaf module's output."""
    sizes = [4 * torch.Size(input_shape).numel()]
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
    """The largest power-of-two batch <= limit that fits, for this model, device and fast path (cached)."""
    device = next(model.parameters()).device
    limit = limit or LIMITS["cuda" if device.type == "cuda" else "cpu"]
    device_label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    key = "|".join([type(model).__name__, str(sum(p.numel() for p in model.parameters())), str(tuple(input_shape)),
                    device_label, fast_path.label(), f"limit={limit}", torch.__version__])
    path = cache_path()
    cache = _read_cache(path)
    if key not in cache:
        model.eval()
        if device.type == "cuda":
            eager = replace(fast_path, compile=False).prepare(model, device)  # one compile per probed size would be slow
            fits = forward_fits(eager, input_shape, device, fast_path)
        else:
            per_sample, budget = bytes_per_sample(model, input_shape, device, fast_path), available_memory_bytes() // 2
            fits = lambda batch: batch * per_sample <= budget
        cache[key] = largest_power_of_two(fits, limit)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
        temporary.replace(path)
    return cache[key]
