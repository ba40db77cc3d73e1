"""Samples saved by sequential CERTIFY (smoothing.sequential) against CERTIFY, same model, images and seeds.

    smoothbench sequential-savings --images 20 --n 10000 --out results/sequential/zoo_sigma0.25_n10k.tsv

Both certify at level alpha; the sequential run stops an image once its cell of the certified-accuracy
table over the dataset's reported radii (its DatasetInfo) is settled. Rows are written to the
TSV as they finish; rerunning the same command after a kill continues after the last finished row.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from bench.commands import add_setting_flags, positive_float, positive_int
from bench.models import create_model_spec
from bench.report.tables import accuracy_columns
from bench.runner import pending_units, selected_images
from bench.tsv import ResumableTSV
from smoothing.checkpoints import checkpoint_sha256, load_checkpoint
from smoothing.core import Smooth, check_sample_sizes
from smoothing.datasets import create_dataset, dataset_info, dataset_names
from smoothing.sampler import image_seed
from smoothing.sequential import RECOMMENDED, certification_grid, certify_sequential, create_scheme, scheme_names
from smoothing.statistics import check_alpha

COLUMNS = ["method", "idx", "label", "predict", "radius", "correct", "samples", "seconds"]


def compare(model_name: str, dataset: str, sigma: float, images: int, skip: int, n0: int, n: int, alpha: float,
            batch: int, scheme: str, out: Path, overwrite: bool = False, seed: int = 0) -> pd.DataFrame:
    """CERTIFY and sequential CERTIFY on every skip-th image, each image's noise seeded by its index;
    rows already in `out` (a resumed run) are kept, not recomputed, unless `overwrite`. Every setting is
    checked before the first row."""
    check_alpha(alpha)
    check_sample_sizes(n, batch, n0)
    if images < 1 or skip < 1:
        raise ValueError(f"images and skip must be >= 1, got {images}, {skip}")
    create_scheme(scheme)  # an unknown name fails here, before any row
    spec = create_model_spec(model_name)
    model, _ = load_checkpoint(spec.checkpoint, spec.dataset, spec.arch)
    data, info = create_dataset(dataset), dataset_info(dataset)
    settings = dict(model=model_name, dataset=dataset, sigma=sigma, skip=skip, n0=n0, n=n, alpha=alpha,
                    batch=batch, scheme=scheme, seed=seed, checkpoint_sha256=checkpoint_sha256(spec.checkpoint))
    units = [(method, position, idx) for position, idx in selected_images(data, skip, images * skip)
             for method in ("certify", "sequential")]
    with ResumableTSV(out, COLUMNS, settings, overwrite, key=lambda fields: (fields[0], int(fields[1]))) as table:
        for (method, position, idx), _ in pending_units(units, table, lambda unit: [unit[::2]], "sequential-savings"):
            x, label = data[position]
            smoothed = Smooth(model, info.num_classes, sigma, seed=image_seed(seed, idx))
            if method == "certify":
                certificate = smoothed.certify_batch(x[None], n0, n, alpha, batch)[0]
            else:
                certificate = certify_sequential(smoothed, x, n0, n, alpha, batch, scheme=scheme,
                                                 radii=certification_grid(info.cell_step, sigma, n, alpha))
            table.write([method, idx, label, certificate.prediction, certificate.radius,
                         int(certificate.prediction == label), n0 + certificate.n, certificate.seconds])
    frame = pd.read_csv(out, sep="\t")
    return frame[frame["idx"] < images * skip]


def savings_summary(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Samples, seconds and certified accuracy at the dataset's reported radii, per method."""
    radii = dataset_info(dataset).reported_radii
    return pd.DataFrame([dict(method=method, samples=group["samples"].sum(), seconds=group["seconds"].sum(),
                              **accuracy_columns(group, radii))
                         for method, group in frame.groupby("method")])


def sequential_savings_command(args: argparse.Namespace) -> None:
    frame = compare(args.model, args.dataset, args.sigma, args.images, args.skip, args.n0, args.n, args.alpha,
                    args.batch, args.scheme, Path(args.out), args.overwrite, args.seed)
    print(tabulate(savings_summary(frame, args.dataset), headers="keys", tablefmt="github", showindex=False,
                   floatfmt=".3f"))


def add_commands(commands: argparse._SubParsersAction) -> None:
    savings = commands.add_parser("sequential-savings",
                                  help="samples sequential CERTIFY saves against CERTIFY, same model, images and seeds")
    savings.add_argument("--model", default="cifar10-jpeg-resnet20-noise0.25", help="a registered model")
    savings.add_argument("--dataset", default="cifar10-embedded", choices=dataset_names())
    savings.add_argument("--sigma", type=positive_float, default=0.25)
    savings.add_argument("--images", type=positive_int, default=20, help="certify this many images")
    add_setting_flags(savings, ["skip", "n0", "n", "alpha", "batch", "seed"])
    savings.add_argument("--scheme", default=RECOMMENDED, help=f"sequential scheme ({', '.join(scheme_names())})")
    savings.add_argument("--out", required=True, help="TSV file of per-image rows (resumed if it exists)")
    savings.add_argument("--overwrite", action="store_true", help="start again instead of resuming --out")
    savings.set_defaults(handler=sequential_savings_command)
