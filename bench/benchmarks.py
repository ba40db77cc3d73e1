"""Benchmarks: what makes certified accuracies comparable. A benchmark is (dataset, pixels, split, image index
set, n, alpha); rows are ranked only inside one. The standard ones follow Cohen et al.'s protocol (every 20th
CIFAR-10 test image, every 100th ImageNet validation image, n = 100,000, alpha = 0.001); our runs on JPEG
copies of the same CIFAR-10 images are their own benchmark."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smoothing.datasets import dataset_info


@dataclass(frozen=True)
class Benchmark:
    name: str
    dataset: str  # the dataset the rows name (cifar10 and cifar10-jpeg are different pixels)
    pixels: str
    split: str
    skip: int  # official indices 0, skip, 2 skip, ... below `last`
    last: int
    radii: tuple[float, ...]  # the radii its tables report (0: clean accuracy)
    n: int = 100_000
    alpha: float = 0.001

    @property
    def headline(self) -> float:
        """The radius it ranks by (the dataset's headline radius); ties are broken by the next radii in order."""
        return dataset_info(self.dataset).headline_radius

    def indices(self) -> np.ndarray:
        return np.arange(0, self.last, self.skip)

    def describe(self) -> str:
        return (f"{self.dataset} {self.split} images 0, {self.skip}, ..., {self.last - self.skip} "
                f"({len(self.indices())}, {self.pixels}), n = {self.n:,}, alpha = {self.alpha:g}")


CIFAR10_RADII = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25)  # the papers' CIFAR-10 tables
IMAGENET_RADII = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5)
STANDARD = (
    Benchmark("cifar10-paper", "cifar10", "exact pixels", "test", 20, 10_000, CIFAR10_RADII),
    Benchmark("imagenet-paper", "imagenet", "exact pixels", "test", 100, 50_000, IMAGENET_RADII),
    Benchmark("cifar10-jpeg-paper", "cifar10-jpeg", "JPEG copies (quality 75)", "test", 20, 10_000, CIFAR10_RADII),
)


def ranking_order(benchmark: Benchmark) -> list[float]:
    """The radii a ranking compares, in order: the headline, the larger radii upwards, then the smaller ones
    downwards."""
    radii = sorted(benchmark.radii)
    return ([benchmark.headline] + [r for r in radii if r > benchmark.headline]
            + sorted((r for r in radii if r < benchmark.headline), reverse=True))


def standard_benchmark(dataset: str) -> Benchmark | None:
    """The standard benchmark of a dataset's rows, if it has one."""
    return next((benchmark for benchmark in STANDARD if benchmark.dataset == dataset), None)
