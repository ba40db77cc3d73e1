"""Sharding a suite across processes with torch.distributed (`torchrun --nproc-per-node K ...`).

Rank r of K takes every K-th unit of work (model, sigma, image) and writes its own rows; because each
image's noise is seeded from (seed, idx), the union of the ranks' rows equals a single-process run.
NCCL on GPUs (one per local rank), gloo on CPUs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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
