"""Samples saved by sequential CERTIFY (smoothing.sequential) against CERTIFY, same model, images and seeds.

    python -m bench.sequential_savings --images 20 --n 10000 --out results/sequential/demo_sigma0.25_n10k.tsv

Both certify at level alpha; the sequential run stops an image once its cell of the certified-accuracy
table over the dataset's reported radii (its DatasetInfo) is settled. Rows are written to the
TSV as they finish; rerunning the same command after a kill continues after the last finished row.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from bench.models import create_model_spec
from bench.tables import certified_accuracy
from bench.tsv import ResumableTSV
from smoothing.checkpoints import checkpoint_sha256, load_checkpoint
from smoothing.core import Smooth
from smoothing.datasets import create_dataset, dataset_info
from smoothing.sampler import image_seed
from smoothing.sequential import certify_sequential


COLUMNS = ["method", "idx", "label", "predict", "radius", "correct", "samples", "seconds"]


def compare(model_name: str, dataset: str, sigma: float, images: int, skip: int, n0: int, n: int, alpha: float,
            batch: int, stages: int, out: Path) -> pd.DataFrame:
    """CERTIFY and sequential CERTIFY on every skip-th image, each image's noise seeded by its index;
    rows already in `out` (a resumed run) are kept, not recomputed."""
    spec = create_model_spec(model_name)
    model, _ = load_checkpoint(spec.checkpoint, spec.dataset, spec.arch)
    data, info = create_dataset(dataset), dataset_info(dataset)
    settings = dict(model=model_name, dataset=dataset, sigma=sigma, skip=skip, n0=n0, n=n, alpha=alpha,
                    batch=batch, stages=stages, checkpoint_sha256=checkpoint_sha256(spec.checkpoint))
    with ResumableTSV(out, COLUMNS, settings, key=lambda fields: (fields[0], int(fields[1]))) as table:
        for position in range(0, images * skip, skip):
            x, label = data[position]
            for method in ("certify", "sequential"):
                if (method, position) in table.done:
                    continue
                smoothed = Smooth(model, info.num_classes, sigma, seed=image_seed(0, position))
                if method == "certify":
                    certificate = smoothed.certify_batch(x[None], n0, n, alpha, batch)[0]
                else:
                    certificate = certify_sequential(smoothed, x, n0, n, alpha, batch,
                                                     radii=info.reported_radii, stages=stages)
                table.write([method, position, label, certificate.prediction, certificate.radius,
                             int(certificate.prediction == label), n0 + certificate.n, certificate.seconds])
    frame = pd.read_csv(out, sep="\t")
    return frame[frame["idx"] < images * skip]


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
    parser.add_argument("--out", type=Path, required=True, help="TSV file of per-image rows (resumed if it exists)")
    args = parser.parse_args()
    frame = compare(args.model, args.dataset, args.sigma, args.images, args.skip, args.n0, args.n, args.alpha,
                    args.batch, args.stages, args.out)
    radii = dataset_info(args.dataset).reported_radii
    summary = [[method, group["samples"].sum(), group["seconds"].sum(), *certified_accuracy(group, radii)]
               for method, group in frame.groupby("method")]
    print(tabulate(summary, headers=["method", "samples", "seconds", *[f"r={r}" for r in radii]], floatfmt=".3f",
                   tablefmt="github"))


if __name__ == "__main__":
    main()
