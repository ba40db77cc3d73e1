"""The embedded default: real CIFAR-10 test images shipped inside the package (exact pixels, uint8,
compressed npz with the images' official test indices), so that the demo and the tests need no download.

Rebuild it from the official python batch (or the verified 3 MiB prefix of it) with
    python -m smoothing.datasets.embedded SOURCE_FOLDER [--count 500]
"""
from __future__ import annotations

import argparse
import os
import pickletools
from importlib import resources
from pathlib import Path

import numpy as np

from smoothing.datasets import register_dataset
from smoothing.datasets.cifar10 import ImageArrayDataset, find_batches_folder, read_batch

SUBSET_FILE = "cifar10_test_subset.npz"
PREFIX_FILE = "test_batch.prefix"
# Byte layout of the official test_batch pickle (see shared/data/cifar10-test-prefix/README.md).
PREFIX_LABELS_END = 20078
PREFIX_PIXELS_START = 20217
IMAGE_BYTES = 3 * 32 * 32


def subset_path() -> Path:
    return Path(str(resources.files("smoothing") / "data" / SUBSET_FILE))


@register_dataset("cifar10-embedded")
class Cifar10Embedded(ImageArrayDataset):
    """The first official CIFAR-10 test images, exact pixels; test split only."""

    def __init__(self, split: str = "test", root: str | os.PathLike | None = None):
        if split != "test":
            raise ValueError("cifar10-embedded holds test images only; train on 'cifar10' with --data-root")
        with np.load(subset_path()) as subset:
            super().__init__(subset["images"], subset["labels"], subset["indices"])


def read_test_prefix(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (M, 32, 32, 3), labels of all 10,000) from a truncated official test_batch."""
    raw = path.read_bytes()
    labels = []
    try:
        for opcode, argument, _ in pickletools.genops(raw[:PREFIX_LABELS_END]):
            if opcode.name == "BININT1":
                labels.append(argument)
    except ValueError:  # the slice ends without STOP, as expected
        pass
    count = (len(raw) - PREFIX_PIXELS_START) // IMAGE_BYTES
    pixels = np.frombuffer(raw, np.uint8, count * IMAGE_BYTES, PREFIX_PIXELS_START)
    return pixels.reshape(count, 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(labels, dtype=np.int64)


def build_subset(source: Path, count: int, out: Path) -> None:
    """Write the first `count` test images of `source` (a cifar-10-batches-py folder or the prefix folder)."""
    if (source / PREFIX_FILE).is_file():
        images, labels = read_test_prefix(source / PREFIX_FILE)
    else:
        images, labels = read_batch(find_batches_folder(source) / "test_batch")
    if len(images) < count:
        raise ValueError(f"{source} holds {len(images)} test images, fewer than the {count} asked for")
    np.savez_compressed(
        out, images=np.ascontiguousarray(images[:count]), labels=labels[:count], indices=np.arange(count)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="cifar-10-batches-py folder, or the folder holding test_batch.prefix")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--out", type=Path, default=subset_path())
    args = parser.parse_args()
    build_subset(args.source, args.count, args.out)
    print(f"wrote {args.count} images to {args.out}")


if __name__ == "__main__":
    main()
