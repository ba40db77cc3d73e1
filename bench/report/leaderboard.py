"""Regenerate results/leaderboard.md, results/leaderboard.csv, results/benchmarks.csv.xz and results/plots/ from
every run under results/runs/ and the published logs under results/reference/, deterministically: the same
inputs give the same bytes.

benchmarks.csv.xz is the field's leaderboard (bench.report.field): every published log and every run of ours on
its benchmark, per sigma and per method (envelope), ranked only inside a benchmark, everything else unranked.
leaderboard.csv holds our runs, one row per (dataset, model, certifier, sigma, run), ranked among the rows
measured the same way (dataset, test images, n, alpha): images, samples per image, certified accuracy at
the dataset's reported radii (r = 0 is clean accuracy) with 95 % Clopper-Pearson intervals. The Markdown is
a view of both, with each dataset's models and their provenance, the paper comparison on the same test
images, the models trained here (results/trained_models.csv), time per image per device and sampling
throughput per device.
"""
from __future__ import annotations

import argparse
from itertools import combinations
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from bench.benchmarks import STANDARD
from bench.models import MODELS, create_model_spec
from bench.published import ENTRIES_FILE, STORE, read_published
from bench.published.cohen2019 import cohen2019_rows
from bench.records import read_runs
from bench.report.bounds import bounds_frame
from bench.report.field import (
    CONFIDENCE,
    DERIVED,
    ENVELOPE,
    PER_SIGMA,
    accuracy_interval,
    envelope_curves,
    field_frame,
    radius_column,
    top_rows_view,
)
from bench.report.plots import (
    plot_bounds,
    plot_certified_accuracy,
    plot_certify_seconds,
    plot_derived_guarantees,
    plot_field,
    plot_throughput,
)
from bench.report.site import write_site
from bench.report.tables import accuracy_columns, certified_accuracy
from bench.report.trained_models import markdown_view as trained_models_view
from bench.report.trained_models import trained_models_frame
from bench.tools.throughput import certification_summary, fast_path_label, memory_summary, summary_frame
from smoothing.datasets import dataset_info

KEY = ["dataset", "model", "certifier", "sigma", "run"]  # run: <suite>/<run-id>, so two devices' runs stay two rows
PAPER_CIFAR10_RADII = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)  # the radii of Cohen et al. (2019), Table 1
def image_set(idx: pd.Series) -> str:
    """A short name of a set of test indices: count, first, last and step where they are evenly spaced."""
    values = sorted(int(i) for i in idx)
    steps = {b - a for a, b in zip(values, values[1:])}
    spacing = f" step {steps.pop()}" if len(steps) == 1 else " (irregular)" if steps else ""
    return f"{len(values)}: {values[0]}-{values[-1]}{spacing}"


def leaderboard_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per KEY of run rows (ours and published alike), ranked by the dataset's headline radius among
    the rows measured the same way: same dataset, test images, n (n_max of a sequential run) and alpha."""
    records = []
    for key, group in rows.groupby(KEY, sort=True, dropna=False):
        info = dataset_info(key[0])
        images = len(group)
        n_max = int(group["n_max"].iloc[0]) if "n_max" in group and pd.notna(group["n_max"].iloc[0]) else (
            int(group["n"].max()) if group["n"].notna().any() else 0)
        record = dict(zip(KEY, key), images=images, image_set=image_set(group["idx"]), n=n_max,
                      alpha=group["alpha"].iloc[0], samples_per_image=float((group["n0"] + group["n"]).mean()))
        for radius, accuracy in zip(info.reported_radii, certified_accuracy(group, info.reported_radii)):
            low, high = accuracy_interval(round(accuracy * images), images)
            record.update({f"r={radius:g}": accuracy, f"r={radius:g} low": low, f"r={radius:g} high": high})
        record["headline"] = certified_accuracy(group, [info.headline_radius])[0]
        record.update(seconds_per_image=group["seconds"].mean(), device=group["device"].iloc[0])
        records.append(record)
    frame = pd.DataFrame(records)
    comparable = ["dataset", "image_set", "n", "alpha"]
    frame = frame.sort_values(comparable + ["headline", "r=0", "model", "certifier", "sigma", "run"],
                              ascending=[True] * 4 + [False, False, True, True, True, True], kind="stable")
    frame.insert(0, "rank", frame.groupby(comparable, dropna=False).cumcount() + 1)
    return frame.reset_index(drop=True)


def paper_comparison(runs: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Our Gaussian-smoothing rows beside Cohen et al.'s released rows at the same sigma on the same test
    images: each (run, model, dataset, sigma) of ours whose every test index the paper also certified, and
    the paper's rows on those indices. Certified accuracy at the paper's CIFAR-10 radii; tidy (one row per
    source)."""
    rows = []
    ours = runs[(runs["certifier"] == "gaussian") & (runs["dataset"].map(lambda d: dataset_info(d).family) == "cifar10")]
    paper = paper[paper["dataset"] == "cifar10"]
    for (run, model, dataset, sigma), group in ours.groupby(["run", "model", "dataset", "sigma"], sort=True):
        theirs = paper[paper["sigma"] == sigma]
        shared = sorted(set(group["idx"]))
        if not set(shared) <= set(theirs["idx"]):
            continue
        for source, label, rows_of in (("this suite", f"{model} on {dataset} ({run})", group),
                                       ("published", f"{theirs['model'].iloc[0]} (Cohen et al. 2019)", theirs)):
            chosen = rows_of[rows_of["idx"].isin(shared)]
            rows.append(dict(sigma=float(sigma), source=source, model=label, images=len(chosen),
                             **accuracy_columns(chosen, PAPER_CIFAR10_RADII)))
    return pd.DataFrame(rows)


def pixel_format_comparison(runs: pd.DataFrame) -> pd.DataFrame:
    """The same model at the same sigma on the same test images of two copies of one dataset (e.g. exact
    pixels and JPEG): pairs of Gaussian-smoothing runs on different copies whose test indices are identical,
    so what the pixel format costs is measured on the same images and noise seeds. Certified accuracy at the
    dataset's reported radii, one row per run of a pair. Tidy."""
    ours = runs[runs["certifier"] == "gaussian"]
    ours = ours.assign(family=ours["dataset"].map(lambda d: dataset_info(d).family))
    rows = []
    for (family, model, sigma), group in ours.groupby(["family", "model", "sigma"], sort=True):
        copies = list(group.groupby(["dataset", "run"], sort=True))
        for (first, first_rows), (second, second_rows) in combinations(copies, 2):
            if first[0] == second[0] or set(first_rows["idx"]) != set(second_rows["idx"]):
                continue
            for (dataset, run), chosen in ((first, first_rows), (second, second_rows)):
                rows.append(dict(family=family, model=model, sigma=float(sigma), dataset=dataset, run=run,
                                 images=len(chosen), **accuracy_columns(chosen, dataset_info(dataset).reported_radii)))
    return pd.DataFrame(rows)


def _accuracy_cell(row: pd.Series, radius: str) -> str:
    return f"{row[radius]:.2f} [{row[radius + ' low']:.2f}, {row[radius + ' high']:.2f}]"


def markdown_view(frame: pd.DataFrame, dataset: str) -> str:
    """The leaderboard of one dataset for reading: intervals beside each accuracy, counts with separators,
    seconds with their device."""
    info = dataset_info(dataset)
    radii = [f"r={r:g}" for r in info.reported_radii]
    view = pd.DataFrame({
        "rank": frame["rank"], "model": frame["model"], "certifier": frame["certifier"],
        "sigma": frame["sigma"].map(lambda s: "-" if pd.isna(s) else f"{s:g}"), "run": frame["run"],
        "images": frame["image_set"],
        "n": frame["n"].map(lambda n: f"{n:,}" if n else "-"),
        "samples / image": frame["samples_per_image"].map(lambda n: "-" if pd.isna(n) else f"{n:,.0f}"),
        **{("clean (r=0)" if r == "r=0" else r): frame.apply(_accuracy_cell, axis=1, radius=r) for r in radii},
    })
    return tabulate(view, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)


def provenance(models: list[str]) -> pd.DataFrame:
    """Architecture, training data and noise, recipe and source of each model, from the model registry."""
    registered = set(MODELS.names())
    rows = []
    for name in models:
        spec = create_model_spec(name) if name in registered else None
        rows.append(dict(model=name, architecture=spec.architecture if spec else "(inline in its suite)",
                         trained_on=spec.trained_on if spec else "", recipe=spec.recipe if spec else "",
                         source=spec.source if spec else ""))
    return pd.DataFrame(rows)


def _csv_section(frame: pd.DataFrame, path: Path, written: list[Path], title: str, text: str,
                 body: list[str]) -> list[str]:
    """Write `frame` to `path` (appended to `written`); return its Markdown section naming the file."""
    written.append(path)
    frame.to_csv(path, index=False, float_format="%.4f")
    return ["", f"## {title}", "", f"{text} (`results/{path.name}`).", "", *body]


THROUGHPUT_COLUMNS = {  # what the summaries and plots read of each kind of `smoothbench throughput` CSV
    "samples_per_s": ["device", "arch", "precision", "channels_last", "compile", "method", "batch", "samples_per_s"],
    "certify_seconds": ["device", "arch", "fast_path", "method", "n0", "n", "batch", "seconds"],
    "peak_memory": ["device", "measure", "arch", "batch", "n", "peak_bytes"],
}


def _throughput_frame(results: Path, prefix: str) -> pd.DataFrame | None:
    """All results/throughput/<prefix>_*.csv files in one frame, or None where there is none; a file without
    the columns `smoothbench throughput` writes is named."""
    frames = []
    for path in sorted((results / "throughput").glob(f"{prefix}_*.csv")):
        try:
            frame = pd.read_csv(path)
        except (ValueError, UnicodeDecodeError) as error:  # pandas' ParserError and EmptyDataError are ValueErrors
            raise ValueError(f"{path}: not a CSV of `smoothbench throughput` ({error}); write it again") from None
        missing = [column for column in THROUGHPUT_COLUMNS[prefix] if column not in frame.columns]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(missing)}: not a {prefix} CSV of `smoothbench throughput`; "
                             "write it again or remove it")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else None


def _per_device_section(title: str, intro: str, summary: pd.DataFrame) -> list[str]:
    """A leaderboard section with one table per device of `summary`."""
    lines = ["", f"## {title}", "", intro, ""]
    for device, group in summary.groupby("device", sort=True):
        table = group.drop(columns="device").dropna(axis=1, how="all")  # e.g. no reference core timed there
        lines += [f"{device}:", "", tabulate(table, headers="keys", tablefmt="github", showindex=False,
                                             floatfmt=",.3f"), ""]
    return lines


BENCHMARKS_FILE = "benchmarks.csv.xz"  # every row set of the field (xz: 1,600 rows in 150 kB)
TOP_PER_SIGMA = 20  # per-sigma rows of a benchmark shown in the Markdown (all are in benchmarks.csv.xz)


def benchmark_sections(field: pd.DataFrame) -> list[str]:
    """Per benchmark with ranked rows: its definition, every method's envelope and the top per-sigma rows;
    then the count of row sets on no benchmark."""
    lines = []
    for benchmark in STANDARD:
        rows = field[field["benchmark"] == benchmark.name]
        if rows.empty:
            continue
        per_sigma = rows[rows["kind"] == PER_SIGMA]
        lines += ["", f"## Benchmark {benchmark.name}", "", f"{benchmark.describe()}. Ranked by certified accuracy "
                  f"at r = {benchmark.headline:g} (bold, with its {CONFIDENCE:.0%} interval), ties broken by the next "
                  "radii; ACR is shown, not ranked. Published rows are recomputed from the authors' released "
                  "per-image logs (source: the paper's folder); rows of logs over more images are restricted to "
                  "these.", "", "Per method (envelope over its sigmas and variants; the interval is that of the "
                  "row reaching the best value, which is the best of several and so optimistic):", "",
                  tabulate(top_rows_view(field, benchmark, ENVELOPE, None), headers="keys", tablefmt="github",
                           showindex=False, disable_numparse=True), "",
                  f"Per sigma, the first {min(TOP_PER_SIGMA, len(per_sigma))} of {len(per_sigma)} "
                  "(all in `results/benchmarks.csv.xz`):", "",
                  tabulate(top_rows_view(field, benchmark, PER_SIGMA, TOP_PER_SIGMA), headers="keys",
                           tablefmt="github", showindex=False, disable_numparse=True)]
    derived = field[field["kind"] == DERIVED]
    if len(derived):
        lines += ["", "## The guarantees on the published logs (derived, not ranked)", "",
                  "Li et al.'s Renyi bound and PixelDP's differential-privacy bound against Cohen et al.'s, each from "
                  "the same pA = Phi(R / sigma) of every published radius R (lowered one unit in its last digit; "
                  "pB = 1 - pA): derived from the published radius, not certified here. Every published log on the "
                  "ImageNet benchmark, and on CIFAR-10 each method's best log at the headline radius; best over a "
                  "method's logs at each radius (`results/plots/derived_guarantees_<benchmark>.png`)."]
        for benchmark in STANDARD:
            rows = derived[derived["benchmark"] == benchmark.name]
            if rows.empty:
                continue
            columns = [radius_column(r) for r in benchmark.radii]
            best = rows.groupby(["source", "method", "arch", "extra_data", "certifier"], sort=True)[columns].max()
            lines += ["", f"{benchmark.name}:", "", tabulate(best.reset_index().replace({"extra_data": {"": "-"}}),
                                                              headers="keys", tablefmt="github", showindex=False,
                                                              floatfmt=".3f")]
    others = field[field["benchmark"] == ""]
    if len(others):
        counts = others.groupby("source").size()
        lines += ["", "## Other runs (not ranked)", "", "Row sets on no benchmark (other images, n or alpha; smoke "
                  "runs), each with its largest certifiable radius, in `results/benchmarks.csv.xz`: "
                  + ", ".join(f"{source} {count}" for source, count in counts.items()) + "."]
    return lines


def time_per_image(runs: pd.DataFrame) -> pd.DataFrame:
    """Median seconds per image of each (device, run, model, sigma), the first image of each excluded
    (warm-up, compilation); one certifier's rows per sampling pass (they share it)."""
    first = runs.groupby(["run", "model", "sigma"], dropna=False)["certifier"].transform("first")
    rows = runs[runs["certifier"] == first].sort_values("idx", kind="stable")
    records = []
    for (device, run, model, sigma), group in rows.groupby(["device", "run", "model", "sigma"], dropna=False, sort=True):
        timed = group.iloc[1:] if len(group) > 1 else group
        samples = (timed["n0"] + timed["n"]).median()
        records.append(dict(device=device, run=run, model=model, sigma="-" if pd.isna(sigma) else f"{sigma:g}",
                            images=len(timed), samples_per_image="-" if pd.isna(samples) else f"{samples:,.0f}",
                            median_seconds=float(timed["seconds"].median())))
    return pd.DataFrame(records)


def regenerate(results: Path = Path("results")) -> list[Path]:
    runs = read_runs(results / "runs")
    published = read_published(results) if (results / STORE / ENTRIES_FILE).is_file() else None
    paper = cohen2019_rows(published) if published is not None else None
    frame = leaderboard_frame(runs)
    field = field_frame(published, runs)
    written = [results / "leaderboard.csv", results / "leaderboard.md", results / BENCHMARKS_FILE]
    frame.to_csv(written[0], index=False, float_format="%.4f")
    field.to_csv(written[2], index=False, float_format="%.4f", compression={"method": "xz", "preset": 9})
    sections = ["# smoothbench leaderboard", "",
                "Generated by `smoothbench leaderboard` from `results/runs/` and `results/reference/`; do not edit. "
                "Certified accuracy at radius r: the fraction of images with a correct prediction certified at "
                f"radius >= r (r = 0: clean accuracy), with its {CONFIDENCE:.0%} Clopper-Pearson interval over the "
                "images. Rows are ranked only against rows measured the same way: the benchmarks (same dataset and "
                "pixels, test images, n and alpha) hold the published logs and our runs on them; our other runs "
                "are ranked among runs on the same images with the same n and alpha."]
    sections += benchmark_sections(field)
    sections += ["", "## Our runs", "", "Each run of ours, ranked (by certified accuracy at the dataset's headline "
                 "radius) only among rows of the same dataset, test images, n and alpha; images: count, first-last "
                 "index and step."]
    for dataset, group in frame.groupby("dataset", sort=True):
        sections += ["", f"### {dataset}", "", markdown_view(group, dataset), "", "Models:", "",
                     tabulate(provenance(sorted(group["model"].unique())), headers="keys", tablefmt="github",
                              showindex=False)]
    times = time_per_image(runs)
    sections += _per_device_section(
        "Time per image", "Median seconds per image of CERTIFY (all certifiers of a run share one sampling pass), "
        "the first image of each model and sigma excluded (warm-up and compilation); one table per device, "
        "with its thread count or GPU share. Runs on a shared machine (other jobs beside them) are slower "
        "than a quiet one; compare within a table.", times)
    if paper is not None and len(comparison := paper_comparison(runs, paper)):
        sections += _csv_section(
            comparison, results / "paper_comparison.csv", written, "Beside the paper, on the same test images",
            "Gaussian smoothing at each sigma: our rows and the rows of Cohen et al.'s released logs (ResNet-110, "
            "exact pixels, n = 100,000) on the same test images, for each of our runs whose every test image the "
            "paper also certified",
            [line for sigma, group in comparison.groupby("sigma", sort=True)
             for line in (f"sigma = {sigma:g}", "", tabulate(group.drop(columns="sigma"), headers="keys",
                                                               tablefmt="github", showindex=False, floatfmt=".3f"), "")])
    if len(copies := pixel_format_comparison(runs)):
        sections += _csv_section(
            copies, results / "pixel_format_comparison.csv", written, "Exact pixels and JPEG, on the same test images",
            "Gaussian smoothing, one model at its sigma on the same test indices and noise seeds of two copies of a "
            "dataset",
            [tabulate(copies.drop(columns="family"), headers="keys", tablefmt="github", showindex=False,
                      floatfmt=".3f"), ""])
    if len(trained := trained_models_frame()):
        sections += _csv_section(
            trained, results / "trained_models.csv", written, "Models trained here",
            "From each model's training log and `smoothbench evaluate` files beside its checkpoint: epochs, wall "
            "time of training, the last epoch's training accuracy under its own noise, and test accuracy clean and "
            "under its training noise, one noise draw per image",
            [trained_models_view(trained), ""])
    throughput = _throughput_frame(results, "samples_per_s")
    if throughput is not None:
        sections += _per_device_section(
            "Sampling throughput", "Noisy samples per second on one image (`smoothbench throughput`, "
            "results/throughput/samples_per_s_*.csv): the plain forward pass of the same net, fast path and batch is "
            "the ceiling; seconds per image are for n0 + n = 100,100 samples at our rate.", summary_frame(throughput))
    if (seconds := _throughput_frame(results, "certify_seconds")) is not None:
        sections += _per_device_section(
            "CERTIFY seconds per image", "Wall seconds of one CERTIFY (n0 + n samples, random weights, mean over "
            "the images; `smoothbench throughput --certify-images`, results/throughput/certify_seconds_*.csv): ours "
            "with each fast path beside the reference-style loop and Cohen et al.'s own code/core.py, both as "
            "released (fp32, eager), on the same net, batch and inputs; `X / ours` is our speed-up.",
            certification_summary(seconds))
    if (memory := _throughput_frame(results, "peak_memory")) is not None:
        sections += _per_device_section(
            "Peak memory of sampling", "Peak memory of sampling n noisy copies of one image in MiB "
            "(`smoothbench throughput --memory`, results/throughput/peak_memory_*.csv): it is bounded by the "
            "batch, not by n.", memory_summary(memory))
    written[1].write_text("\n".join(sections).rstrip("\n") + "\n")
    plots = results / "plots"
    written += plot_certified_accuracy(runs, plots) + plot_bounds(bounds_frame(), plots)
    written += plot_derived_guarantees(field, plots) + plot_field(envelope_curves(published, runs), plots)
    written += write_site(field, results)
    if throughput is not None:
        written += plot_throughput(throughput.assign(fast_path=fast_path_label(throughput)), plots)
    if seconds is not None:
        written += plot_certify_seconds(seconds, plots)
    return written


def leaderboard_command(args: argparse.Namespace) -> None:
    for path in regenerate(Path(args.results)):
        print(path)


def add_commands(commands: argparse._SubParsersAction) -> None:
    leaderboard = commands.add_parser("leaderboard", help="regenerate results/leaderboard.md and .csv, benchmarks.csv.xz, plots/ and site/ from all runs and the published logs")
    leaderboard.add_argument("--results", default="results")
    leaderboard.set_defaults(handler=leaderboard_command)
