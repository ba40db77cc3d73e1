"""Plots (seaborn) as views of result frames; PNG and PDF, written without timestamps so that the same
inputs give the same files."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bench.tables import certified_accuracy  # noqa: E402

METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}


def save(figure: plt.Figure, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, metadata in METADATA.items():
        path = stem.with_suffix(f".{suffix}")
        figure.savefig(path, dpi=150, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    plt.close(figure)
    return paths


def certified_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Tidy curves: certified accuracy at each radius of a fine grid, per (dataset, run, model, certifier,
    sigma), plus the envelope over sigma (sigma = 'envelope'). Rows without a run column are one run."""
    runs = runs if "run" in runs.columns else runs.assign(run="run")
    rows = []
    for dataset, runs_of_dataset in runs.groupby("dataset"):
        grid = np.linspace(0.0, max(1.0, float(runs_of_dataset["radius"].max()) * 1.05), 201)  # shared by all curves
        for (run, model, certifier, sigma), group in runs_of_dataset.groupby(["run", "model", "certifier", "sigma"]):
            rows += [dict(dataset=dataset, run=run, model=model, certifier=certifier, sigma=sigma or "-", radius=r,
                          accuracy=accuracy) for r, accuracy in zip(grid, certified_accuracy(group, grid))]
    curves = pd.DataFrame(rows)
    envelope = (curves.groupby(["dataset", "run", "model", "certifier", "radius"], as_index=False)["accuracy"].max()
                .assign(sigma="envelope"))
    return pd.concat([curves, envelope], ignore_index=True)


def plot_certified_accuracy(runs: pd.DataFrame, out_dir: Path) -> list[Path]:
    curves = certified_curves(runs)
    paths = []
    for dataset, frame in curves.groupby("dataset"):
        grid = sns.relplot(data=frame, x="radius", y="accuracy", hue="certifier", style="sigma", col="model",
                           row="run" if frame["run"].nunique() > 1 else None, kind="line", height=3.6, aspect=1.3,
                           facet_kws=dict(sharex=False))
        grid.set_axis_labels("l2 radius r", "certified accuracy")
        grid.figure.suptitle(f"Certified accuracy vs radius: {dataset}", y=1.03)
        paths += save(grid.figure, out_dir / f"certified_accuracy_{dataset}")
    return paths


def plot_bounds(bounds: pd.DataFrame, out_dir: Path) -> list[Path]:
    grid = sns.relplot(data=bounds, x="p_a", y="radius", hue="guarantee", col="sigma", kind="line", marker="o",
                       height=3.4, aspect=1.1)
    grid.set_axis_labels("pA (pB = 1 - pA)", "certified radius")
    grid.figure.suptitle("Certified radius of each smoothing guarantee", y=1.04)
    return save(grid.figure, out_dir / "bounds")


def plot_throughput(throughput: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Noisy samples per second per model and fast path: the plain forward pass (ceiling) beside the samplers."""
    several = throughput["device"].nunique() > 1
    grid = sns.catplot(data=throughput, x="samples_per_s", y="arch", hue="method", col="fast_path",
                       row="device" if several else None, sharex=not several, kind="bar",
                       height=3.0, aspect=1.5)
    grid.set_axis_labels("noisy samples per second", "")
    title = "several devices" if several else throughput["device"].iloc[0]
    grid.figure.suptitle(f"Sampling throughput against the forward-pass ceiling: {title}", y=1.05)
    return save(grid.figure, out_dir / "throughput")
