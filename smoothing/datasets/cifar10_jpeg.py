"""CIFAR-10 as JPEG files (quality 75): the complete training set packed in one file, and the test set as
a tree of files. The pixels are JPEG-compressed, not the official ones; models trained or certified on
them must say so.

Folder (``--data-root`` or $SMOOTHBENCH_DATA), in the root or in its named sub-folders:
    train.npz               or cifar10-train-jpeg/train.npz: arrays jpeg (all files' bytes, concatenated),
                            offsets (N + 1), labels (N); image i is jpeg[offsets[i]:offsets[i + 1]]
    test/<class>/<k>.jpg    or cifar10-test-jpeg/test/...: the k-th test image of that class, official order
The test split is indexed by the official test index: position i is the image that Cohen et al.'s logs
call idx = i. The k-th file of class c is the official image i with labels[i] = c and k earlier images of
class c, from the official label list shipped with the package (smoothing/data/cifar10_test_labels.npz).
Both splits are decoded once, at construction, and kept as uint8 arrays.
"""
from __future__ import annotations

import os
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from smoothing.datasets import DataNotFoundError, open_rgb, register_dataset, resolve_root
from smoothing.datasets.cifar10 import ImageArrayDataset, cifar10_transform

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_FILE = "train.npz"
TEST_FOLDER = "test"
SUBFOLDERS = {"train": "cifar10-train-jpeg", "test": "cifar10-test-jpeg"}
LABELS_FILE = "cifar10_test_labels.npz"


def official_test_labels() -> np.ndarray:
    """The 10,000 official CIFAR-10 test labels, in official order."""
    with np.load(Path(str(resources.files("smoothing") / "data" / LABELS_FILE))) as shipped:
        return shipped["labels"].astype(np.int64)


def decode_rgb(data: bytes, name: str) -> np.ndarray:
    """One 32x32 image file's pixels as uint8 (32, 32, 3); a truncated, corrupt or resized file is named."""
    pixels = np.asarray(open_rgb(data, name))
    if pixels.shape[:2] != (32, 32):
        raise ValueError(f"{name} is {pixels.shape[1]}x{pixels.shape[0]} pixels, expected 32x32; replace the file")
    return pixels


def _find(root: Path, split: str, name: str) -> Path:
    for candidate in (root / name, root / SUBFOLDERS[split] / name):
        if candidate.exists():
            return candidate
    raise DataNotFoundError(
        f"CIFAR-10 JPEG {split} split not found: no {root / name} or {root / SUBFOLDERS[split] / name}. "
        f"Put {name} there, under the folder given by --data-root or SMOOTHBENCH_DATA"
    )


def read_train_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)) from the packed JPEG training set."""
    try:
        with np.load(path) as packed:
            jpeg, offsets, labels = packed["jpeg"], packed["offsets"], packed["labels"].astype(np.int64)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(
            f"{path} is not a readable packed CIFAR-10 JPEG set ({error}); it needs arrays jpeg, offsets and "
            "labels: copy train.npz again"
        ) from error
    if len(offsets) != len(labels) + 1 or offsets[0] != 0 or offsets[-1] != len(jpeg) or np.any(np.diff(offsets) <= 0):
        raise ValueError(f"{path}: offsets do not cut jpeg into {len(labels)} files; the file is corrupt, copy it again")
    if np.any((labels < 0) | (labels >= len(CLASS_NAMES))):
        raise ValueError(f"{path}: labels outside 0..9; the file is corrupt, copy it again")
    images = np.stack([decode_rgb(jpeg[a:b].tobytes(), f"{path} (image {i})")
                       for i, (a, b) in enumerate(zip(offsets[:-1], offsets[1:]))])
    return images, labels


def read_test_tree(folder: Path, labels: np.ndarray) -> np.ndarray:
    """Images uint8 (N, 32, 32, 3) in official order: image i is <class of labels[i]>/<k>.jpg, where k
    counts the earlier images of the same class."""
    seen = np.zeros(len(CLASS_NAMES), dtype=np.int64)
    images = []
    for label in labels:
        path = folder / CLASS_NAMES[label] / f"{seen[label]:04d}.jpg"
        seen[label] += 1
        if not path.is_file():
            raise DataNotFoundError(f"CIFAR-10 JPEG test image missing: {path}; the tree needs all 1,000 files per class")
        images.append(decode_rgb(path.read_bytes(), str(path)))
    return np.stack(images)


@register_dataset("cifar10-jpeg")
class Cifar10Jpeg(ImageArrayDataset):
    """CIFAR-10 from JPEG copies: train (50,000, packed) and test (10,000, official test indices)."""

    def __init__(self, split: str = "test", root: str | os.PathLike | None = None):
        root = resolve_root("cifar10-jpeg", root, self.info)
        if split == "train":
            images, labels = read_train_npz(_find(root, split, TRAIN_FILE))
        else:
            labels = official_test_labels()
            images = read_test_tree(_find(root, split, TEST_FOLDER), labels)
        super().__init__(images, labels, np.arange(len(labels)), cifar10_transform(split))
