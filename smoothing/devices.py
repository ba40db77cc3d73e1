"""Devices: which one a command runs on (--device), its name in a result row, and sharding a run across
processes with torch.distributed (`torchrun --nproc-per-node K ...`).

Rank r of K takes every K-th unit of work (model, sigma, image) and writes its own rows; because each
image's noise is seeded from (seed, idx), the union of the ranks' rows equals a single-process run.
NCCL on GPUs (one per local rank), gloo on CPUs.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import torch
import torch.distributed as dist


def available_devices() -> list[str]:
    """The --device values that exist on this machine."""
    cuda = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return ["auto", "cpu", *(["cuda"] if cuda else []), *cuda]


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' is CUDA when present, else the CPU; a device that does not exist here is refused."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in available_devices():
        raise ValueError(f"device {device!r} does not exist on this machine; choose one of {', '.join(available_devices())}")
    return torch.device(device)


def device_name(device: torch.device) -> str:
    """The device in words, as result rows record it: the GPU's name, or the CPU with torch's thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1

    def owns(self, unit: int) -> bool:
        return unit % self.world == self.rank

    def suffix(self) -> str:
        return "" if self.world == 1 else f".rank{self.rank}-of-{self.world}"


def init_from_env(device: torch.device) -> tuple[Shard, torch.device]:
    """The shard torchrun assigned (WORLD_SIZE, RANK, LOCAL_RANK), with the process group started."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Shard(), device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Shard(dist.get_rank(), dist.get_world_size()), device


def barrier_and_close() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
