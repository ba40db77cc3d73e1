"""A sequential run on real images, beside a fixed-n run of the same models on the images both certified.

    smoothbench sequential-runs --sequential cifar10-jpeg-paper --fixed cifar10-jpeg

Per (model, sigma) of the sequential run's Gaussian rows:

  samples        mean and median estimation samples per image (n0 selection samples come on top), and
                 saved = n_max / mean
  abstentions    how many, and their mean samples (the simulation's convention pA = 1/2 is their worst case)
  seconds        median seconds per image on the run's device
  against fixed  on the images both runs certified: the fixed run's n over the sequential run's mean samples
                 there, and how many images the sequential run puts in a higher, the same or a lower cell of
                 the certified-accuracy table (abstain is cell -1, then radii 0, step, 2 step, ...)

The figure shows per sigma the samples each image took in the real run beside the same scheme simulated on
Cohen et al.'s per-image pA (sample-efficiency's per-image file): does the simulation predict the real cost?
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.commands import write_csv
from bench.records import ABSTAIN, read_runs, run_files, run_label, suite_of_run
from bench.tools.sample_efficiency import IMAGES_FILE
from smoothing.datasets import dataset_info

SUMMARY_FILE = "sequential_runs.csv"
SUMMARY_COLUMNS = ["run", "scheme", "model", "sigma", "images", "n_max", "mean_samples", "median_samples", "saved",
                   "abstentions", "abstention_mean_samples", "median_seconds", "fixed_run", "fixed_n",
                   "shared_images", "fixed_over_sequential", "cells_higher", "cells_same", "cells_lower"]


def grid_cells(rows: pd.DataFrame) -> np.ndarray:
    """The certified-accuracy table's cell of each row: -1 for an abstention, else floor(radius / step), step
    the dataset's grid (0.25 on CIFAR-10); never rounded up."""
    step = rows["dataset"].map(lambda name: dataset_info(name).cell_step).to_numpy()
    return np.where(rows["predict"] == ABSTAIN, -1, np.floor(rows["radius"].to_numpy() / step)).astype(int)


def suite_run(runs: pd.DataFrame, runs_dir: Path, suite: str) -> tuple[pd.DataFrame, str]:
    """The Gaussian rows of the one run of `suite` under runs_dir, and its sequential scheme ("" if fixed n)."""
    files = run_files(runs_dir)
    labels = sorted({run_label(path) for path in files if path.parent.name == suite})
    if len(labels) != 1:
        known = ", ".join(sorted({path.parent.name for path in files}))
        raise ValueError(f"{runs_dir}: {len(labels)} runs of suite {suite!r} ({', '.join(labels) or 'none'}); "
                         f"name a suite with one run: {known}")
    files = [path for path in files if run_label(path) == labels[0]]
    declared = suite_of_run(files[0])
    scheme = declared.scheme() if declared is not None else ""
    rows = runs[(runs["run"] == labels[0]) & (runs["certifier"] == "gaussian")]
    return rows, scheme or ""


def sequential_run_summary(sequential: pd.DataFrame, scheme: str, fixed: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (model, sigma) of `sequential` (SUMMARY_COLUMNS), compared with `fixed`'s rows of the same
    model and sigma on the images both hold."""
    records = []
    for (model, sigma), group in sequential.groupby(["model", "sigma"], sort=True):
        abstained = group[group["predict"] == ABSTAIN]
        record = dict(run=group["run"].iloc[0], scheme=scheme, model=model, sigma=float(sigma), images=len(group),
                      n_max=int(group["n_max"].iloc[0]), mean_samples=float(group["n"].mean()),
                      median_samples=float(group["n"].median()), saved=group["n_max"].iloc[0] / group["n"].mean(),
                      abstentions=len(abstained),
                      abstention_mean_samples=float(abstained["n"].mean()) if len(abstained) else float("nan"),
                      median_seconds=float(group["seconds"].median()))
        theirs = fixed[(fixed["model"] == model) & (fixed["sigma"] == sigma)] if fixed is not None else None
        if theirs is not None and len(shared := group.merge(theirs, on="idx", suffixes=("", "_fixed"))):
            ours, reference = grid_cells(shared), grid_cells(theirs.set_index("idx").loc[shared["idx"]].reset_index())
            record.update(fixed_run=theirs["run"].iloc[0], fixed_n=int(theirs["n"].iloc[0]), shared_images=len(shared),
                          fixed_over_sequential=theirs["n"].iloc[0] / shared["n"].mean(),
                          cells_higher=int((ours > reference).sum()), cells_same=int((ours == reference).sum()),
                          cells_lower=int((ours < reference).sum()))
        records.append(record)
    return pd.DataFrame(records).reindex(columns=SUMMARY_COLUMNS)


def markdown_view(summary: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "model": summary["model"], "sigma": summary["sigma"].map("{:g}".format), "images": summary["images"],
        "samples mean / median": [f"{m:,.0f} / {d:,.0f}" for m, d in zip(summary["mean_samples"], summary["median_samples"])],
        "saved (n_max / mean)": summary["saved"].map("{:.1f}x".format),
        "abstentions (mean samples)": [f"{a} ({s:,.0f})" if a else "0" for a, s in
                                       zip(summary["abstentions"], summary["abstention_mean_samples"])],
        "median s / image": summary["median_seconds"].map("{:.1f}".format),
        "fixed n / samples, shared images": [
            "-" if pd.isna(n) else f"{n:,.0f} / {n / r:,.0f} = {r:.1f}x on {i:.0f}"
            for n, r, i in zip(summary["fixed_n"], summary["fixed_over_sequential"], summary["shared_images"])],
        "cells higher / same / lower": [
            "-" if pd.isna(h) else f"{h:.0f} / {s:.0f} / {w:.0f}"
            for h, s, w in zip(summary["cells_higher"], summary["cells_same"], summary["cells_lower"])]})
    first = summary.iloc[0]
    title = (f"### {first['run']}: scheme {first['scheme']}, n_max = {first['n_max']:,}"
             + (f"; against {first['fixed_run']}" if isinstance(first["fixed_run"], str) else "") + "\n")
    return title + "\n" + tabulate(shown, headers="keys", tablefmt="github", showindex=False) + "\n"


def sequential_runs_command(args: argparse.Namespace) -> None:
    from bench.report.plots import plot_sequential_run

    runs_dir = Path(args.runs)
    runs = read_runs(runs_dir)
    sequential, scheme = suite_run(runs, runs_dir, args.sequential)
    if not scheme:
        raise ValueError(f"suite {args.sequential} certifies with fixed n (sequential = false); give --sequential a "
                         "suite whose runs stop early")
    fixed = None
    if args.fixed:
        fixed, fixed_scheme = suite_run(runs, runs_dir, args.fixed)
        if fixed_scheme:
            raise ValueError(f"suite {args.fixed} is sequential ({fixed_scheme}); give --fixed a fixed-n suite")
    summary = sequential_run_summary(sequential, scheme, fixed)
    simulated = None
    if args.simulated:
        if not Path(args.simulated).is_file():
            raise FileNotFoundError(f"{args.simulated}: no simulated per-image file; run smoothbench "
                                    "sample-efficiency first, or pass --simulated ''")
        simulated = pd.read_csv(args.simulated)
    out = Path(args.out)
    write_csv(summary, out / SUMMARY_FILE)
    (out / "sequential_runs.md").write_text(markdown_view(summary))
    written = [out / SUMMARY_FILE, out / "sequential_runs.md"]
    written += plot_sequential_run(sequential, scheme, fixed, simulated, Path(args.plots))
    print(markdown_view(summary))
    print("wrote " + ", ".join(str(path) for path in written))


def add_commands(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "sequential-runs", help="a sequential run's samples and cells on real images, beside a fixed-n run")
    command.add_argument("--runs", default="results/runs", help="the runs folder")
    command.add_argument("--sequential", default="cifar10-jpeg-paper", help="the sequential suite whose run to report")
    command.add_argument("--fixed", default="cifar10-jpeg", help="a fixed-n suite of the same models ('' for none)")
    command.add_argument("--simulated", default=f"results/sequential/{IMAGES_FILE}",
                         help="sample-efficiency's per-image file, for the figure ('' for none)")
    command.add_argument("--out", default="results/sequential", help="folder of the CSV and Markdown tables")
    command.add_argument("--plots", default="results/plots", help="folder of the figure")
    command.set_defaults(handler=sequential_runs_command)
