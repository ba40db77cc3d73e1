"""Sample efficiency of the sequential schemes (smoothing.sequential) on the paper's own images, by simulation.

    smoothbench sample-efficiency --repetitions 20 --out results/sequential

Each image of Cohen et al.'s released n = 100,000 logs (the published store, results/reference/published/:
500 CIFAR-10 images per sigma, up to 500 ImageNet ones) gets a top-class probability pA = Phi(R / sigma), R its
printed radius lowered one unit in the last digit (bench.published; a conservative stand-in for pA, since
the log holds a lower bound). Abstentions get pA = 1/2, the hardest case (all the log says is pA_lower < 1/2);
a wrong prediction is simulated like a right one (sampling does not know the label). The votes for the top
class are then Bernoulli(pA) streams, and every scheme runs on the same streams as fixed-n CERTIFY (the same
first n_max votes), `repetitions` times per image. Per (dataset, sigma, scheme):

  samples        mean and median estimation samples per image (n0 = 100 selection samples come on top), and
                 the mean over the images fixed-n CERTIFY certifies (expected cell >= 0), abstentions aside
  saved          n_max / mean samples
  oracle         the fewest samples a level-alpha procedure could need if pA were known: the smallest n whose
                 Clopper-Pearson bound on the expected count floor(n pA) reaches the image's cell (the cell
                 fixed-n CERTIFY reaches with the expected count floor(n_max pA)); 0 for images that cell -1
  cell changes   the fraction of certifications whose table cell differs from fixed-n CERTIFY's on that stream
  radius loss    the median of (R_fixed - R) / R_fixed over certifications fixed-n CERTIFY certifies (R_fixed > 0)
  futility       the threshold below which a scheme stops pursuing the next cell (Plan.predictive); several
                 (--predictive 0.02 0.05 0.1) trace the frontier of samples against cell changes
  failures       certifications that claim more than the truth (smoothing.sequential.overclaims), with a
                 95 % Clopper-Pearson interval for the rate, to compare with alpha
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.commands import add_setting_flags, non_negative_int, positive_int, write_csv
from bench.published import ENTRIES_FILE, STORE, p_a_from_radius, read_published
from bench.published.cohen2019 import cohen2019_rows
from bench.report.field import accuracy_interval
from bench.suite import default_of
from smoothing.datasets import dataset_info
from smoothing.sequential import (
    PREDICTIVE,
    Plan,
    certification_grid,
    check_futility,
    create_scheme,
    overclaims,
    scheme_names,
    simulate,
    table_cell,
)
from smoothing.statistics import check_alpha, clopper_pearson_lower, gaussian_radius

REPOSITORY_RESULTS = Path(__file__).resolve().parents[2] / "results"
SUMMARY_FILE, IMAGES_FILE = "sample_efficiency.csv", "sample_efficiency_images.csv.xz"  # per image: xz, 0.3-0.6 MB as text
SUMMARY_COLUMNS = ["dataset", "sigma", "scheme", "images", "repetitions", "n_max", "alpha", "predictive", "mean_samples",
                   "median_samples", "mean_samples_certified", "saved", "oracle_mean_samples", "over_oracle",
                   "cell_changes", "cells_lower", "median_radius_loss", "failures", "failure_rate", "failure_upper95"]


def reference_p_a(rows: pd.DataFrame) -> pd.DataFrame:
    """Per released image: dataset, sigma, idx and pA (bench.published.p_a_from_radius)."""
    return rows.assign(p_a=p_a_from_radius(rows["radius"], rows["sigma"], rows["predict"]))[
        ["dataset", "sigma", "idx", "p_a"]]


def fixed_n_cell(plan: Plan, votes) -> np.ndarray:
    """The cell fixed-n CERTIFY (Clopper-Pearson at alpha over n_max samples) reaches with `votes` for cA."""
    return (np.asarray(votes)[:, None] >= plan.fixed_n_counts[None, :]).sum(axis=1) - 1


def oracle_samples(plan: Plan, p_a: np.ndarray) -> np.ndarray:
    """Per pA, the smallest n <= n_max whose Clopper-Pearson bound on floor(n pA) votes clears the threshold of
    the cell fixed-n CERTIFY reaches on floor(n_max pA) votes (0 where that cell is -1); bisection on n."""
    cell = fixed_n_cell(plan, np.floor(plan.n_max * p_a))
    target = plan.thresholds[np.maximum(cell, 0)]
    low, high = np.zeros(len(p_a), dtype=np.int64), np.full(len(p_a), plan.n_max, dtype=np.int64)
    while (high - low > 1).any():  # invariant: n = high clears the target, n = low does not
        middle = (low + high) // 2
        clears = clopper_pearson_lower(np.floor(middle * p_a), np.maximum(middle, 1), plan.alpha) > target
        high, low = np.where(clears, middle, high), np.where(clears, low, middle)
    return np.where(cell >= 0, high, 0)


def simulate_images(p_a: np.ndarray, plan: Plan, schemes: Sequence[str], repetitions: int,
                    rng: np.random.Generator) -> pd.DataFrame:
    """Per (image, repetition, scheme): samples, cell, fixed-n cell and radius on the same stream, overclaim."""
    streams = np.repeat(p_a, repetitions)
    image = np.repeat(np.arange(len(p_a)), repetitions)
    frames = []
    for name in schemes:
        state, votes = simulate(create_scheme(name), plan, streams, rng)
        fixed_lower = clopper_pearson_lower(votes, plan.n_max, plan.alpha)
        frames.append(pd.DataFrame(dict(
            image=image, scheme=name, samples=state.used,
            cell=table_cell(state.radius, state.p_a_lower, plan.radii), fixed_cell=fixed_n_cell(plan, votes),
            radius=state.radius, fixed_radius=gaussian_radius(plan.sigma, fixed_lower),
            overclaim=overclaims(state, streams))))
    return pd.concat(frames, ignore_index=True)


def summarise(trials: pd.DataFrame, oracle: np.ndarray, expected_cell: np.ndarray, plan: Plan) -> list[dict]:
    """One summary row per scheme of simulate_images' trials (SUMMARY_COLUMNS but dataset and sigma);
    expected_cell: per image, the cell fixed-n CERTIFY reaches with the expected votes."""
    rows = []
    for name, group in trials.groupby("scheme", sort=False):
        certified = group[group["fixed_radius"] > 0]
        loss = (certified["fixed_radius"] - certified["radius"]) / certified["fixed_radius"]
        failed = int(group["overclaim"].sum())
        mean = float(group["samples"].mean())
        rows.append(dict(
            scheme=name, images=int(group["image"].nunique()), repetitions=len(group) // group["image"].nunique(),
            n_max=plan.n_max, alpha=plan.alpha, mean_samples=mean, median_samples=float(group["samples"].median()),
            mean_samples_certified=float(group.loc[expected_cell[group["image"]] >= 0, "samples"].mean()),
            saved=plan.n_max / mean, oracle_mean_samples=float(oracle.mean()), over_oracle=mean / float(oracle.mean()),
            cell_changes=float((group["cell"] != group["fixed_cell"]).mean()),
            cells_lower=float((group["cell"] < group["fixed_cell"]).mean()),
            median_radius_loss=float(loss.median()) if len(loss) else float("nan"),
            failures=failed, failure_rate=failed / len(group),
            failure_upper95=accuracy_interval(failed, len(group))[1]))
    return rows


def sample_efficiency(images: pd.DataFrame, schemes: Sequence[str], repetitions: int, n_max: int, alpha: float,
                      seed: int = 0, predictive: float = PREDICTIVE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary (SUMMARY_COLUMNS) and per-image frame (dataset, sigma, predictive, idx, p_a, fixed_cell,
    oracle_samples, and per scheme its mean samples and cell-change rate) of every (dataset, sigma) of `images`
    (reference_p_a), the schemes stopping for futility below `predictive` (Plan.predictive)."""
    check_alpha(alpha)
    for name in schemes:
        create_scheme(name)  # an unknown name fails here, before any simulation
    summary, per_image = [], []
    for (dataset, sigma), group in images.groupby(["dataset", "sigma"], sort=True):
        plan = Plan(n_max, alpha, float(sigma), certification_grid(dataset_info(dataset).cell_step, sigma, n_max, alpha),
                    predictive=predictive)
        p_a = group["p_a"].to_numpy()
        oracle, expected_cell = oracle_samples(plan, p_a), fixed_n_cell(plan, np.floor(n_max * p_a))
        trials = simulate_images(p_a, plan, schemes, repetitions, np.random.default_rng([seed, round(sigma * 1000)]))
        summary += [dict(dataset=dataset, sigma=float(sigma), predictive=predictive, **row)
                    for row in summarise(trials, oracle, expected_cell, plan)]
        means = trials.assign(changed=trials["cell"] != trials["fixed_cell"]).pivot_table(
            index="image", columns="scheme", values=["samples", "changed"], aggfunc="mean")
        frame = group[["dataset", "sigma", "idx", "p_a"]].reset_index(drop=True).assign(
            fixed_cell=expected_cell, oracle_samples=oracle)
        frame.insert(2, "predictive", predictive)
        for name in schemes:
            frame[f"{name}_samples"] = means[("samples", name)].to_numpy()
            frame[f"{name}_cell_changes"] = means[("changed", name)].to_numpy()
        per_image.append(frame)
    return pd.DataFrame(summary)[SUMMARY_COLUMNS], pd.concat(per_image, ignore_index=True)


def markdown_view(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table per dataset."""
    shown = summary.assign(
        samples=[f"{m:,.0f} / {d:,.0f}" for m, d in zip(summary["mean_samples"], summary["median_samples"])],
        certified=[f"{m:,.0f}" for m in summary["mean_samples_certified"]],
        saved=[f"{s:.1f}x" for s in summary["saved"]],
        oracle=[f"{o:,.0f} ({r:.1f}x)" for o, r in zip(summary["oracle_mean_samples"], summary["over_oracle"])],
        cells=[f"{c:.2%} ({d:.2%} lower)" for c, d in zip(summary["cell_changes"], summary["cells_lower"])],
        loss=[f"{x:.1%}" for x in summary["median_radius_loss"]],
        failure=[f"{f} ({r:.1e}, <= {u:.1e})" for f, r, u in
                 zip(summary["failures"], summary["failure_rate"], summary["failure_upper95"])])
    headers = {"sigma": "sigma", "scheme": "scheme", "predictive": "futility", "samples": "samples mean / median",
               "certified": "mean, certified images", "saved": "saved",
               "oracle": "oracle mean (scheme / oracle)", "cells": "cell changes", "loss": "median radius loss",
               "failure": "failures (rate, 95 % upper)"}
    shown = shown.sort_values(["dataset", "sigma", "scheme", "predictive"], kind="stable")
    parts = []
    for dataset, group in shown.groupby("dataset", sort=True):
        first = group.iloc[0]
        parts.append(f"### {dataset}: {first['images']} images per sigma x {first['repetitions']} repetitions, "
                     f"n_max = {first['n_max']:,}, alpha = {first['alpha']:g}\n")
        parts.append(tabulate(group[list(headers)].rename(columns=headers), headers="keys", tablefmt="github",
                              showindex=False, floatfmt="g") + "\n")
    return "\n".join(parts)


def futility_threshold(text: str) -> float:
    """--predictive: a futility threshold (smoothing.sequential.check_futility)."""
    value = float(text)
    try:
        check_futility(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def sample_efficiency_command(args: argparse.Namespace) -> None:
    from bench.report.plots import plot_sample_efficiency

    source = Path(args.results) / STORE / ENTRIES_FILE
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no published logs; give --results the folder holding {STORE}/ "
                                "(smoothbench import-published writes it)")
    released = reference_p_a(cohen2019_rows(read_published(Path(args.results))))
    images = released[released["dataset"].isin(args.datasets)]
    if args.sigmas:
        images = images[images["sigma"].isin(args.sigmas)]
    if args.images:
        images = images.groupby(["dataset", "sigma"], sort=True).head(args.images)
    if images.empty:
        held = ", ".join(f"{d} {s:g}" for d, s in released[["dataset", "sigma"]].drop_duplicates().itertuples(index=False))
        raise ValueError(f"{source}: Cohen et al.'s rows hold no dataset {args.datasets} at sigmas {args.sigmas}; "
                         f"choose among {held}")
    parts = [sample_efficiency(images, args.schemes, args.repetitions, args.n, args.alpha, args.seed, predictive)
             for predictive in args.predictive]
    summary = pd.concat([part[0] for part in parts], ignore_index=True)
    per_image = pd.concat([part[1] for part in parts], ignore_index=True)
    out = Path(args.out)
    write_csv(summary, out / SUMMARY_FILE)
    write_csv(per_image, out / IMAGES_FILE)
    (out / "sample_efficiency.md").write_text(markdown_view(summary))
    written = [out / SUMMARY_FILE, out / IMAGES_FILE, out / "sample_efficiency.md"]
    written += plot_sample_efficiency(summary, Path(args.plots))
    print(markdown_view(summary))
    print("wrote " + ", ".join(str(path) for path in written))


def add_commands(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "sample-efficiency", help="simulate every sequential scheme on the released per-image pA (Bernoulli oracle)")
    command.add_argument("--results", default=str(REPOSITORY_RESULTS),
                         help=f"the results folder whose {STORE}/ holds Cohen et al.'s released rows")
    command.add_argument("--datasets", nargs="+", default=["cifar10", "imagenet"], help="datasets of those rows")
    command.add_argument("--sigmas", nargs="+", type=float, help="only these sigmas (default: all)")
    command.add_argument("--images", type=non_negative_int, default=0, help="only the first images per sigma (0: all)")
    command.add_argument("--schemes", nargs="+", default=scheme_names(), choices=scheme_names())
    command.add_argument("--repetitions", type=positive_int, default=20, help="simulated certifications per image")
    command.add_argument("--predictive", nargs="+", type=futility_threshold, default=[PREDICTIVE],
                         help="futility thresholds to compare (Plan.predictive: stop pursuing a cell fixed-n CERTIFY "
                              "would reach with a smaller chance)")
    add_setting_flags(command, ["n", "alpha", "seed"], defaults=dict(n=default_of("n")))
    command.add_argument("--out", default="results/sequential", help="folder of the CSV and Markdown tables")
    command.add_argument("--plots", default="results/plots", help="folder of the figure")
    command.set_defaults(handler=sample_efficiency_command)
