"""Datasets as (image in [0, 1] shaped (C, H, W), label) pairs, behind a registry.

Adding a dataset is one new module in this package: a torch Dataset class with a class attribute
`info` (DatasetInfo), registered with ``@register_dataset(name)`` and built as ``cls(split, root)``.
A user's data path always comes from the `root` argument (CLI flag) or the dataset's environment variable.
"""
from __future__ import annotations

import copy
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset, Subset

from smoothing.registry import Registry

DATASETS: Registry[Dataset] = Registry("dataset", "smoothing.datasets")
register_dataset = DATASETS.register


@dataclass(frozen=True)
class DatasetInfo:
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    env_var: str | None = None  # where the data root is read from when no root is given
    family: str = ""  # the benchmark its images and labels come from ("cifar10", "imagenet")
    reported_radii: tuple[float, ...] = (0.0,)  # the certified-accuracy table's radii, 0 = clean accuracy
    headline_radius: float = 0.0  # the radius a leaderboard ranks by
    cell_step: float = 0.25  # the certified-accuracy table's grid: radii 0, step, 2 step, ... (the papers' tables)


CIFAR10_INFO = DatasetInfo(10, (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010), "SMOOTHBENCH_DATA",
                           "cifar10", (0.0, 0.25, 0.5, 0.75, 1.0), 0.5)
IMAGENET_INFO = DatasetInfo(1000, (3, 224, 224), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "IMAGENET_DIR",
                            "imagenet", (0.0, 0.5, 1.0, 1.5, 2.0, 3.0), 0.5, 0.5)


class DataNotFoundError(FileNotFoundError):
    """The data folder is missing or incomplete; the message says where we looked and how to point us."""


def dataset_info(name: str) -> DatasetInfo:
    return DATASETS.get(name).info


def create_dataset(name: str, split: str = "test", root: str | os.PathLike | None = None) -> Dataset:
    """The dataset `name` ('cifar10', 'imagenet', 'cifar10-embedded', ...) for split 'train' or 'test'."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return DATASETS.get(name)(split=split, root=root)


def open_rgb(source: str | os.PathLike | bytes, name: str | None = None) -> Image.Image:
    """An image file (a path, or its bytes) decoded to RGB now, so that a truncated or corrupt file is
    reported with its name here rather than deep inside a transform."""
    name = name or str(source)
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:  # PIL: UnidentifiedImageError, truncated data
        raise ValueError(f"{name} is not a readable image ({error}); replace the file with a good copy") from error


def selected_positions(length: int, skip: int, maximum: int) -> range:
    """The reference's selection of a dataset's positions: every `skip`-th, stopping before position
    `maximum` (-1: all)."""
    if skip < 1:
        raise ValueError(f"skip must be >= 1 (1 takes every image), got {skip}")
    if maximum == 0 or maximum < -1:
        raise ValueError(f"max = {maximum} selects no image: there is nothing to certify; use -1 for all, or N >= 1")
    return range(0, length if maximum < 0 else min(length, maximum), skip)


def spread_subset(data: Dataset, count: int) -> Dataset:
    """`count` images spread evenly over `data` (every len/count-th), keeping image arrays and labels where
    the dataset has them (so that on-device augmentation still applies)."""
    if not 1 <= count <= len(data):
        raise ValueError(f"--train-images must lie in [1, {len(data)}], got {count}")
    chosen = np.linspace(0, len(data), count, endpoint=False).astype(int)
    if hasattr(data, "images") and hasattr(data, "labels"):
        subset = copy.copy(data)
        subset.images, subset.labels = data.images[chosen], data.labels[chosen]
        subset.indices = data.indices[chosen] if hasattr(data, "indices") else chosen
        return subset
    return Subset(data, chosen.tolist())


def dataset_names() -> list[str]:
    return DATASETS.names()


def resolve_root(name: str, root: str | os.PathLike | None, info: DatasetInfo) -> Path:
    """The data root: the explicit argument, else the dataset's environment variable."""
    if root is None and info.env_var:
        root = os.environ.get(info.env_var)
    if root is None:
        raise DataNotFoundError(
            f"no data folder given for {name!r}: pass --data-root PATH"
            + (f" or set the environment variable {info.env_var}" if info.env_var else "")
        )
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataNotFoundError(f"data folder for {name!r} not found: {path} does not exist or is not a folder")
    return path
