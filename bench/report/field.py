"""The field's certified leaderboard: every published log (bench.published) and every run of ours, each a
row set placed on its benchmark (bench.benchmarks) or among the other runs, ranked only inside a benchmark.

A row set is one published log or one (run, model, certifier, sigma) of ours. It belongs to a benchmark when
its dataset is the benchmark's, its images include all of the benchmark's (a superset is restricted to them,
and the row says so) and its n and alpha are the benchmark's (n_max for a sequential run); everything else
is an "other run", unranked, with its largest certifiable radius sigma PhiInv(alpha^(1/n)). Per benchmark two
kinds of rows are ranked apart: per sigma (one row set) and envelope (per method: the best certified accuracy
at each radius over the method's row sets, as the papers' tables report it). A third kind, derived, is not
ranked: the looser guarantees (li-renyi, pixeldp) on published logs, from the pA of each printed radius. Rank: certified accuracy at the
headline radius, ties broken by the next radii in order (bench.benchmarks.ranking_order). ACR, the average
certified radius (abstentions and wrong predictions count 0), is shown and not used for ranking.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.benchmarks import STANDARD, Benchmark, ranking_order, standard_benchmark
from bench.published import p_a_from_radius
from bench.report.tables import certified_accuracy
from smoothing.guarantees import certified_radius
from smoothing.statistics import clopper_pearson_lower, clopper_pearson_upper, largest_certifiable_radius

CONFIDENCE = 0.95
PER_SIGMA, ENVELOPE, DERIVED = "per sigma", "envelope", "derived"
DERIVED_CERTIFIERS = ("li-renyi", "pixeldp")  # the looser guarantees, from the same pA as the published radius
OTHER = "other runs"
BENCHMARKS = {benchmark.name: benchmark for benchmark in STANDARD}
DESCRIPTION = ["kind", "source", "method", "variant", "group", "arch", "extra_data", "certifier", "train_sigma",
               "sigma", "dataset", "n", "alpha", "images", "index_set", "restricted", "file"]


def accuracy_interval(successes, images: int):
    """Two-sided Clopper-Pearson interval at CONFIDENCE for a fraction of `images`: two floats for a count,
    two arrays for an array of counts."""
    tail = (1 - CONFIDENCE) / 2
    low, high = clopper_pearson_lower(successes, images, tail), clopper_pearson_upper(successes, images, tail)
    return (float(low), float(high)) if np.ndim(successes) == 0 else (low, high)


def radius_column(radius: float) -> str:
    return f"r={radius:g}"


def place(rows: pd.DataFrame, dataset: str, n: int, alpha: float) -> tuple[str, pd.DataFrame, bool]:
    """The benchmark a row set belongs to ('' where none), its rows there, and whether they were restricted."""
    benchmark = standard_benchmark(dataset)
    if benchmark is None or n != benchmark.n or not np.isclose(alpha, benchmark.alpha):
        return "", rows, False
    on = rows["idx"].isin(benchmark.indices())
    if on.sum() != len(benchmark.indices()):
        return "", rows, False
    return benchmark.name, rows[on], bool((~on).any())


def row_set_record(rows: pd.DataFrame, radii: list[float]) -> dict:
    """Images, certified accuracy at each radius with its interval, and ACR of one row set."""
    images = len(rows)
    record = dict(images=images, acr=float((rows["radius"] * rows["correct"]).sum() / images))
    accuracies = certified_accuracy(rows, radii)
    lows, highs = accuracy_interval(np.rint(np.array(accuracies) * images).astype(int), images)
    for radius, accuracy, low, high in zip(radii, accuracies, lows, highs):
        record.update({radius_column(radius): accuracy, f"{radius_column(radius)} low": float(low),
                       f"{radius_column(radius)} high": float(high)})
    return record


def radii_of(benchmark_name: str, dataset: str) -> list[float]:
    """The radii reported for a row set: its benchmark's, or its dataset family's standard ones."""
    if benchmark_name:
        return list(BENCHMARKS[benchmark_name].radii)
    benchmark = standard_benchmark(dataset) or standard_benchmark(dataset.split("-")[0])
    return list(benchmark.radii) if benchmark else [0.0, 0.25, 0.5, 0.75, 1.0]


def placed_logs(published: pd.DataFrame):
    """Each published log once (bench.published.read_published's frame): its first row (the entry), the
    benchmark it is on ('' where none), its rows there, and whether they were restricted (place)."""
    for _, rows in published.groupby("log", sort=True):
        first = rows.iloc[0]
        yield (first, *place(rows, first["dataset"], int(first["n"]), float(first["alpha"])))


def published_description(first: pd.Series) -> dict:
    """What a published log's row set is, as its entry says: the description columns but kind, certifier,
    group and restricted."""
    return dict(source=first["source"], method=first["method"], variant=first["variant"], arch=first["arch"],
                extra_data=first["extra_data"], train_sigma=first["train_sigma"], sigma=first["sigma"],
                dataset=first["dataset"], n=int(first["n"]), alpha=float(first["alpha"]),
                index_set=first["index_set"], file=f"{first['source']}/{first['file']}")


def published_row_sets(published: pd.DataFrame) -> list[dict]:
    """One record per imported published log."""
    return [dict(benchmark=name, kind=PER_SIGMA, group=first["group"], certifier="gaussian", restricted=restricted,
                 **published_description(first), **row_set_record(kept, radii_of(name, first["dataset"])))
            for first, name, kept, restricted in placed_logs(published)]


def derived_row_sets(published: pd.DataFrame, per_sigma: pd.DataFrame) -> list[dict]:
    """The other smoothing guarantees on the published logs, from the pA each printed radius gives
    (bench.published.p_a_from_radius, pB = 1 - pA): for every published log on the ImageNet benchmark, and on
    CIFAR-10 for each method's best log at the headline radius. Gaussian rows from the same pA beside them, so
    the comparison is on one footing (a radius lowered one unit in its last digit certifies at most the
    printed one). Unranked."""
    on_benchmark = per_sigma[(per_sigma["benchmark"] != "") & per_sigma["source"].isin(published["source"].unique())]
    chosen = set(on_benchmark.loc[on_benchmark["benchmark"] == "imagenet-paper", "file"])
    for name, group in on_benchmark[on_benchmark["benchmark"] != "imagenet-paper"].groupby("benchmark"):
        headline = radius_column(BENCHMARKS[name].headline)
        best = group.sort_values(headline, ascending=False, kind="stable").groupby(
            ["source", "method", "arch", "extra_data"], sort=True).head(1)
        chosen |= set(best["file"])
    records = []
    for first, name, kept, _ in placed_logs(published[(published["source"] + "/" + published["file"]).isin(chosen)]):
        p_a = p_a_from_radius(kept["radius"], first["sigma"], kept["predict"], first["printed_digits"])
        distinct, inverse = np.unique(p_a, return_inverse=True)  # printed radii repeat: each pA once
        for certifier in ("gaussian", *DERIVED_CERTIFIERS):
            radius = certified_radius(certifier, float(first["sigma"]), distinct)[inverse.reshape(-1)]
            radius = np.where(kept["predict"] >= 0, radius, 0.0)
            records.append(dict(benchmark=name, kind=DERIVED, group="", certifier=certifier, restricted=False,
                                **published_description(first),
                                **row_set_record(kept.assign(radius=radius), radii_of(name, first["dataset"]))))
    return records


def our_row_sets(runs: pd.DataFrame) -> list[dict]:
    """One record per (run, model, certifier, sigma) of our runs (bench.records.read_runs' frame)."""
    records = []
    keys = ["run", "model", "certifier", "sigma"]
    for (run, model, certifier, sigma), rows in runs.groupby(keys, sort=True, dropna=False):
        first = rows.iloc[0]
        n = int(first["n_max"]) if "n_max" in rows and pd.notna(first["n_max"]) else int(rows["n"].max())
        name, kept, restricted = place(rows, first["dataset"], n, float(first["alpha"]))
        records.append(dict(
            benchmark=name, kind=PER_SIGMA, source=f"this suite: {run}", method=model, variant="", group="",
            arch="", extra_data="", certifier=certifier, train_sigma=first["train_sigma"], sigma=sigma,
            dataset=first["dataset"], n=n, alpha=float(first["alpha"]),
            index_set=f"{len(rows)} images, index {int(rows['idx'].min())} to {int(rows['idx'].max())}",
            restricted=restricted, file=f"results/runs/{run}", **row_set_record(kept, radii_of(name, first["dataset"]))))
    return records


def envelopes(per_sigma: pd.DataFrame) -> pd.DataFrame:
    """Per benchmark and method (source, method, arch, extra data, certifier): the best certified accuracy
    at each radius over its row sets, its interval and ACR those of the row set that reaches it."""
    ranked = per_sigma[per_sigma["benchmark"] != ""]
    keys = ["benchmark", "source", "method", "arch", "extra_data", "certifier"]
    records = []
    for key, group in ranked.groupby(keys, sort=True, dropna=False):
        record = dict(zip(keys, key), kind=ENVELOPE, variant=f"best of {len(group)}", group="", dataset=group["dataset"].iloc[0],
                      n=int(group["n"].iloc[0]), alpha=float(group["alpha"].iloc[0]), images=int(group["images"].max()),
                      index_set=group["index_set"].iloc[0], restricted=bool(group["restricted"].any()),
                      acr=float(group["acr"].max()), file="")
        for column in [radius_column(r) for r in BENCHMARKS[key[0]].radii]:
            best = group.loc[group[column].idxmax()]
            record.update({column: best[column], f"{column} low": best[f"{column} low"],
                           f"{column} high": best[f"{column} high"]})
        records.append(record)
    return pd.DataFrame(records)


def rank(frame: pd.DataFrame) -> pd.DataFrame:
    """Rank within each (benchmark, kind) by ranking_order; other runs get no rank."""
    parts = []
    for (name, kind), group in frame.groupby(["benchmark", "kind"], sort=True):
        if not name or kind == DERIVED:
            parts.append(group.assign(rank=pd.NA))
            continue
        order = [radius_column(r) for r in ranking_order(BENCHMARKS[name])]
        group = group.sort_values(order + ["source", "method", "variant", "sigma"],
                                  ascending=[False] * len(order) + [True] * 4, kind="stable")
        parts.append(group.assign(rank=range(1, len(group) + 1)))
    ranked = pd.concat(parts, ignore_index=True)
    ranked["rank"] = ranked["rank"].astype("Int64")
    return ranked


def field_frame(published: pd.DataFrame | None, runs: pd.DataFrame | None) -> pd.DataFrame:
    """Every row set, per sigma and envelope, placed and ranked: the field's leaderboard as data."""
    records = (published_row_sets(published) if published is not None else []) + (
        our_row_sets(runs) if runs is not None else [])
    per_sigma = pd.DataFrame(records)
    derived = pd.DataFrame(derived_row_sets(published, per_sigma) if published is not None else [])
    frame = pd.concat([per_sigma, envelopes(per_sigma), derived], ignore_index=True)
    frame["largest_radius"] = [float(largest_certifiable_radius(s, n, a)) if pd.notna(s) else np.nan
                               for s, n, a in zip(frame["sigma"], frame["n"], frame["alpha"])]
    frame = rank(frame)
    leading = ["benchmark", "kind", "rank"] + [c for c in DESCRIPTION if c != "kind"] + ["largest_radius", "acr"]
    return frame[leading + [c for c in frame.columns if c not in leading]]


def top_rows_view(frame: pd.DataFrame, benchmark: Benchmark, kind: str, limit: int | None) -> pd.DataFrame:
    """A readable table of the first `limit` ranked rows of one kind on one benchmark."""
    rows = frame[(frame["benchmark"] == benchmark.name) & (frame["kind"] == kind)].sort_values("rank")
    rows = rows.head(limit) if limit else rows
    cells = {radius_column(r): [f"{a:.3f}" for a in rows[radius_column(r)]] for r in benchmark.radii}
    cells[radius_column(benchmark.headline)] = [
        f"**{a:.3f}** [{lo:.2f}, {hi:.2f}]" for a, lo, hi in zip(
            rows[radius_column(benchmark.headline)], rows[f"{radius_column(benchmark.headline)} low"],
            rows[f"{radius_column(benchmark.headline)} high"])]
    return pd.DataFrame({
        "rank": rows["rank"], "source": rows["source"], "method": rows["method"],
        "model": [" ".join(part for part in (arch, variant) if part) for arch, variant in zip(rows["arch"], rows["variant"])],
        "extra data": rows["extra_data"].replace("", "-"),
        "sigma": ["-" if pd.isna(s) else f"{s:g}" for s in rows["sigma"]],
        **cells, "ACR (not ranked)": [f"{a:.3f}" for a in rows["acr"]],
    })


def envelope_curves(published: pd.DataFrame | None, runs: pd.DataFrame | None, points: int = 241) -> pd.DataFrame:
    """Per benchmark and method (as envelopes groups them), certified accuracy on a fine radius grid (0 to the
    benchmark's largest reported radius): the best over the method's row sets at each radius, with the 95 %
    interval of the row set reaching it. Tidy: benchmark, method label, extra data, radius, accuracy, low, high."""
    sets = []  # (benchmark, label, extra data, rows on the benchmark)
    if published is not None:
        for first, name, kept, _ in placed_logs(published):
            if name:
                sets.append((name, f"{first['method']}, {first['arch']} ({first['source']})", first["extra_data"], kept))
    if runs is not None:
        for (run, certifier), rows in runs.groupby(["run", "certifier"], sort=True):
            first = rows.iloc[0]
            n = int(first["n_max"]) if "n_max" in rows and pd.notna(first["n_max"]) else int(rows["n"].max())
            for _, model_rows in rows.groupby(["model", "sigma"], dropna=False):
                name, kept, _ = place(model_rows, first["dataset"], n, float(first["alpha"]))
                if name:
                    sets.append((name, f"{certifier} ({run})", "", kept))
    records = []
    for name in sorted({s[0] for s in sets}):
        grid = np.linspace(0.0, max(BENCHMARKS[name].radii), points)
        by_label: dict[tuple[str, str], list[np.ndarray]] = {}
        for benchmark_name, label, extra, rows in sets:
            if benchmark_name == name:
                certified = np.sort(rows.loc[rows["correct"] == 1, "radius"].to_numpy())
                counts = len(certified) - np.searchsorted(certified, grid, side="left")  # radius >= r
                by_label.setdefault((label, extra), []).append(np.stack([counts, np.full(len(grid), len(rows))]))
        for (label, extra), curves in sorted(by_label.items()):
            stacked = np.stack(curves)  # (sets, 2, points)
            fractions = stacked[:, 0] / stacked[:, 1]
            best = fractions.argmax(axis=0)
            counts, images = stacked[best, 0, np.arange(len(grid))], stacked[best, 1, np.arange(len(grid))]
            tail = (1 - CONFIDENCE) / 2
            records.append(pd.DataFrame(dict(
                benchmark=name, method=label, extra_data=extra, radius=grid, accuracy=counts / images,
                low=clopper_pearson_lower(counts, images, tail), high=clopper_pearson_upper(counts, images, tail))))
    return pd.concat(records, ignore_index=True) if records else pd.DataFrame()
