"""Samples saved by sequential CERTIFY (smoothing.sequential) against CERTIFY, same model, images and seeds.

    python -m bench.sequential_savings --images 20 --n 10000 --out results/sequential/demo_sigma0.25.csv

Both certify at level alpha; the sequential run stops an image once its cell of the certified-accuracy
table over the dataset's reported radii (bench.tables.reported_radii) is settled.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from bench.models import create_model_spec
from bench.tables import certified_accuracy, reported_radii
from smoothing.checkpoints import load_checkpoint
from smoothing.core import Smooth
from smoothing.datasets import create_dataset, dataset_info
from smoothing.sampler import image_seed
from smoothing.sequential import certify_sequential


def compare(model_name: str, dataset: str, sigma: float, images: int, skip: int, n0: int, n: int, alpha: float,
            batch: int, stages: int) -> pd.DataFrame:
    spec = create_model_spec(model_name)
    model, _ = load_checkpoint(spec.checkpoint, spec.dataset, spec.arch)
    data, info = create_dataset(dataset), dataset_info(dataset)
    rows = []
    for position in range(0, images * skip, skip):
        x, label = data[position]
        for method in ("certify", "sequential"):
            smoothed = Smooth(model, info.num_classes, sigma, seed=image_seed(0, position))
            if method == "certify":
                certificate = smoothed.certify_batch(x[None], n0, n, alpha, batch)[0]
            else:
                certificate = certify_sequential(smoothed, x, n0, n, alpha, batch, radii=reported_radii(dataset),
                                                 stages=stages)
            rows.append(dict(method=method, idx=position, label=label, predict=certificate.prediction,
                             radius=certificate.radius, correct=int(certificate.prediction == label),
                             samples=n0 + certificate.n, seconds=certificate.seconds))
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cifar10-demo-resnet20")
    parser.add_argument("--dataset", default="cifar10-embedded")
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--skip", type=int, default=25)
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--stages", type=int, default=6)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    frame = compare(args.model, args.dataset, args.sigma, args.images, args.skip, args.n0, args.n, args.alpha,
                    args.batch, args.stages)
    radii = reported_radii(args.dataset)
    summary = [[method, group["samples"].sum(), group["seconds"].sum(), *certified_accuracy(group, radii)]
               for method, group in frame.groupby("method")]
    print(tabulate(summary, headers=["method", "samples", "seconds", *[f"r={r}" for r in radii]], floatfmt=".3f",
                   tablefmt="github"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
