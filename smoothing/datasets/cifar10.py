"""CIFAR-10 in its official python format (`cifar-10-batches-py/`, as torchvision reads it).

The batch files are pickles; they are read with an unpickler that only admits the numpy types a real
batch contains, so a hostile file cannot run code.
"""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import transforms

from smoothing.datasets import CIFAR10_INFO, DataNotFoundError, register_dataset, resolve_root

FOLDER = "cifar-10-batches-py"
SPLIT_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR-10 batch")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)) from one python-format batch file."""
    try:
        with open(path, "rb") as f:
            entry = _BatchUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
        data = np.asarray(entry[b"data"] if b"data" in entry else entry["data"], dtype=np.uint8)
        labels = entry.get(b"labels", entry.get("labels"))
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.asarray(labels, dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(
            f"{path} is not a readable CIFAR-10 python batch ({error}); re-download "
            "cifar-10-python.tar.gz and extract it"
        ) from error
    if len(images) != len(labels):
        raise ValueError(f"{path}: {len(images)} images but {len(labels)} labels; the file is corrupt")
    return images, labels


def find_batches_folder(root: Path) -> Path:
    for candidate in (root / FOLDER, root):
        if (candidate / "test_batch").is_file() or (candidate / "data_batch_1").is_file():
            return candidate
    raise DataNotFoundError(
        f"CIFAR-10 not found: looked for {root / FOLDER}/test_batch and {root}/test_batch. "
        "Extract cifar-10-python.tar.gz under the folder given by --data-root or SMOOTHBENCH_DATA"
    )


class ImageArrayDataset(Dataset):
    """Images held as uint8 (N, H, W, 3) with labels; `indices` are the images' official indices."""

    info = CIFAR10_INFO

    def __init__(self, images: np.ndarray, labels: np.ndarray, indices: np.ndarray, transform=None):
        self.images, self.labels, self.indices = images, labels, indices
        self.transform = transform or transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[i]), int(self.labels[i])


def cifar10_transform(split: str) -> transforms.Compose:
    """Test: ToTensor. Train: the reference's augmentation, random crop (padding 4) and flip."""
    if split == "train":
        return transforms.Compose(
            [transforms.ToPILImage(), transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
             transforms.ToTensor()]
        )
    return transforms.ToTensor()


@register_dataset("cifar10")
class Cifar10(ImageArrayDataset):
    def __init__(self, split: str = "test", root: str | os.PathLike | None = None):
        folder = find_batches_folder(resolve_root("cifar10", root, self.info))
        missing = [name for name in SPLIT_FILES[split] if not (folder / name).is_file()]
        if missing:
            raise DataNotFoundError(f"CIFAR-10 {split} split incomplete in {folder}: missing {', '.join(missing)}")
        parts = [read_batch(folder / name) for name in SPLIT_FILES[split]]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        super().__init__(images, labels, np.arange(len(labels)), cifar10_transform(split))
