"""Training with Gaussian noise augmentation (Cohen et al. 2019, section 4): minimise the cross-entropy
of f(x + e), e ~ N(0, sigma^2 I), so that f is accurate under the noise it will be smoothed with.
Defaults are the reference recipe: SGD, lr 0.1, momentum 0.9, weight decay 1e-4, lr x 0.1 every 30 of
90 epochs. A checkpoint is written every epoch; `resume=True` continues from it.
"""
from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from smoothing.checkpoints import read_checkpoint, save_checkpoint
from smoothing.devices import resolve_device
from smoothing.sampler import FastPath

CHECKPOINT_NAME = "checkpoint.pth.tar"
LOG_NAME = "log.tsv"  # one row per finished epoch, LOG_COLUMNS, beside the checkpoint
LOG_COLUMNS = ["epoch", "seconds", "lr", "train_loss", "train_acc", "test_loss", "test_acc"]


OPTIMIZERS = {
    "sgd": lambda parameters, c: torch.optim.SGD(parameters, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay),
    "adam": lambda parameters, c: torch.optim.Adam(parameters, lr=c.lr, weight_decay=c.weight_decay),
}


@dataclass(frozen=True)
class TrainConfig:
    noise_sd: float
    epochs: int = 90
    batch: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_step_size: int = 30
    gamma: float = 0.1
    workers: int = 2
    optimizer: str = "sgd"  # "sgd" (with momentum, the reference) or "adam" (momentum unused)
    precision: str = "fp32"  # "bf16": forward and backward under bf16 autocast (weights stay fp32)
    augment_on_device: bool = False  # decoded uint8 images kept on the device, cropped and flipped there

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"--precision must be fp32 or bf16 for training, got {self.precision!r}")
        if not (math.isfinite(self.noise_sd) and self.noise_sd >= 0):
            raise ValueError(f"--noise_sd must be a number >= 0 (0 trains a clean model), got {self.noise_sd}")
        for name in ("epochs", "batch", "lr_step_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be a positive integer, got {getattr(self, name)}")
        for name in ("lr", "gamma"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"--{name} must be a positive number, got {getattr(self, name)}")
        for name in ("momentum", "weight_decay"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"--{name.replace('_', '-')} must be a number >= 0, got {getattr(self, name)}")
        if self.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {self.workers}")


class TrainingDiverged(ValueError):
    """The loss or the weights stopped being finite numbers; nothing broken is saved."""


Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class DeviceBatches:
    """Shuffled training batches of an image-array dataset (uint8 (N, H, W, 3) images, labels) decoded once
    and kept on the device, augmented there as the reference's transform does on the host: a random crop
    of the image padded by 4 zero pixels, and a horizontal flip with probability 1/2."""

    def __init__(self, dataset: Dataset, batch: int, device: torch.device, padding: int = 4):
        if not hasattr(dataset, "images") or getattr(dataset, "images").dtype != np.uint8:
            raise ValueError("--augment-on-device needs a dataset held as uint8 image arrays (cifar10, cifar10-jpeg)")
        self.images = torch.from_numpy(dataset.images).to(device).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
        self.labels = torch.as_tensor(dataset.labels, dtype=torch.long, device=device)
        self.batch, self.device, self.padding = batch, device, padding

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.labels), device=self.device)
        height, width = self.images.shape[2:]
        span = torch.arange(height, device=self.device), torch.arange(width, device=self.device)
        for chosen in order.split(self.batch):
            padded = F.pad(self.images[chosen].float() / 255, [self.padding] * 4)
            top, left = torch.randint(0, 2 * self.padding + 1, (2, len(chosen), 1), device=self.device)
            rows, columns = (top + span[0])[:, :, None], (left + span[1])[:, None, :]
            batch = padded[torch.arange(len(chosen), device=self.device)[:, None, None], :, rows, columns]
            batch = batch.permute(0, 3, 1, 2)  # advanced indexing put the channels last
            flip = torch.rand(len(chosen), device=self.device) < 0.5
            yield torch.where(flip[:, None, None, None], batch.flip(3), batch), self.labels[chosen]


def run_epoch(
    model: nn.Module, loader: Iterable, noise_sd: float, device: torch.device,
    optimizer: torch.optim.Optimizer | None = None, description: str = "", criterion: Criterion | None = None,
    precision: str = "fp32",
) -> tuple[float, float]:
    """(mean loss, accuracy) over one pass of `loader` on noisy inputs; trains when given an optimizer.
    The loss is cross-entropy unless a criterion(logits, targets) is given (e.g. the LMT loss). Sums stay
    on the device (no host sync per batch); a non-finite loss stops the epoch before any checkpoint."""
    model.train(optimizer is not None)
    criterion = criterion or nn.CrossEntropyLoss()
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    with torch.set_grad_enabled(optimizer is not None):
        progress = tqdm(loader, desc=description, leave=False, unit="batch")
        for step, (inputs, targets) in enumerate(progress):
            inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            with FastPath(precision).autocast(device):
                logits = model(inputs + torch.randn_like(inputs) * noise_sd)
                loss = criterion(logits.float(), targets)
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total_loss += loss.detach().double() * len(targets)
            correct += (logits.argmax(1) == targets).sum()
            seen += len(targets)
            if step % 50 == 0 or step == len(progress) - 1:
                if not torch.isfinite(total_loss):
                    raise TrainingDiverged(
                        f"{description or 'evaluation'}: the loss became {total_loss.item()} within {seen} inputs; "
                        "no checkpoint of this epoch is written. Lower --lr (or the LMT constant) and resume or restart"
                    )
                progress.set_postfix(loss=total_loss.item() / seen, acc=correct.item() / seen)
    return total_loss.item() / seen, correct.item() / seen


def _read_log(path: Path, last_epoch: int) -> list[dict[str, str]]:
    """Rows of the training log up to `last_epoch` (a row written after the last checkpoint is dropped)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [row for row in csv.DictReader(f, delimiter="\t") if int(row["epoch"]) <= last_epoch]


def train_with_noise(
    model: nn.Module,
    arch: str,
    dataset: str,
    train_set: Dataset,
    outdir: str | Path,
    config: TrainConfig,
    *,
    test_set: Dataset | None = None,
    device: str | torch.device = "auto",
    resume: bool = False,
    criterion: Criterion | None = None,
    checkpoint_fields: dict | None = None,
) -> list[dict[str, str]]:
    """Train `model` (a Sequential(NormalizeLayer, net)) in place; returns the log rows.
    `criterion` replaces the cross-entropy, `checkpoint_fields` are saved with every checkpoint."""
    device = resolve_device(device)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    checkpoint_path, log_path = outdir / CHECKPOINT_NAME, outdir / LOG_NAME
    model.to(device)
    optimizer = OPTIMIZERS[config.optimizer](model.parameters(), config)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step_size, gamma=config.gamma)
    start_epoch = 0
    if resume and checkpoint_path.is_file():
        checkpoint = read_checkpoint(checkpoint_path)
        model.load_state_dict(checkpoint["state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        start_epoch = int(checkpoint["epoch"])
    log = _read_log(log_path, start_epoch)
    loader_kw = dict(batch_size=config.batch, num_workers=config.workers, pin_memory=device.type == "cuda")
    train_loader = (DeviceBatches(train_set, config.batch, device) if config.augment_on_device
                    else DataLoader(train_set, shuffle=True, drop_last=False, **loader_kw))
    test_loader = DataLoader(test_set, shuffle=False, **loader_kw) if test_set is not None else None
    for epoch in tqdm(range(start_epoch, config.epochs), initial=start_epoch, total=config.epochs, desc="epochs"):
        started = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc = run_epoch(
            model, train_loader, config.noise_sd, device, optimizer, f"train {epoch + 1}", criterion, config.precision
        )
        scheduler.step()
        test_loss, test_acc = (
            run_epoch(model, test_loader, config.noise_sd, device, None, f"test {epoch + 1}", criterion,
                      config.precision)
            if test_loader is not None else (float("nan"), float("nan"))
        )
        log.append(dict(zip(LOG_COLUMNS, map(str, (
            epoch + 1, f"{time.perf_counter() - started:.1f}", lr,
            f"{train_loss:.4f}", f"{train_acc:.4f}", f"{test_loss:.4f}", f"{test_acc:.4f}",
        )))))
        broken = [name for name, value in model.state_dict().items() if value.is_floating_point() and not torch.isfinite(value).all()]
        if broken:
            raise TrainingDiverged(
                f"epoch {epoch + 1}: weights {', '.join(broken[:3])} are no longer finite; the checkpoint of epoch "
                f"{epoch} is kept. Lower --lr (or the LMT constant) and restart"
            )
        # The log first: a kill between the two leaves a row past the checkpoint, dropped on resume.
        with open(log_path, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_COLUMNS, delimiter="\t")
            writer.writeheader()
            writer.writerows(log)
        save_checkpoint(
            checkpoint_path, model, arch, epoch=epoch + 1, dataset=dataset, noise_sd=config.noise_sd,
            optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(), config=asdict(config),
            **(checkpoint_fields or {}),
        )
    model.eval()
    return log
