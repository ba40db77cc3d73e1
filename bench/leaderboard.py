"""Regenerate results/leaderboard.md, results/leaderboard.csv and results/plots/ from every run under
results/runs/ (and the committed reference rows), deterministically: the same inputs give the same bytes.

One row per (dataset, model, certifier, sigma, run): clean accuracy (r = 0), certified accuracy at the
standard radii, samples and seconds per image, and device; then sampling throughput per device, model and fast path from
results/throughput/samples_per_s_*.csv. Certified accuracy is only defined for a given sigma, so sigma is part
of the row; deterministic certifiers have none.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from tabulate import tabulate

from baselines.bounds import bounds_frame
from bench.plots import plot_bounds, plot_certified_accuracy, plot_throughput
from bench.tables import certified_accuracy, dataset_family, read_run, reported_radii
from bench.throughput import fast_path_label, summary_frame

KEY = ["dataset", "model", "certifier", "sigma", "run"]  # run: the run id, so two devices' runs stay two rows


def run_id(path: Path) -> str:
    """<suite>/<run-id> of a run file <suite>/<run-id>.tsv or <suite>/<run-id>.rank<r>-of-<K>.tsv."""
    return f"{path.parent.name}/{path.name.removesuffix('.tsv').split('.rank')[0]}"


def leaderboard_frame(runs: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    rows = []
    for key, group in runs.groupby(KEY, sort=True):
        radii = reported_radii(key[0])
        accuracy = certified_accuracy(group, radii)
        rows.append(dict(zip(KEY, key), source="this suite", images=len(group), clean_accuracy=accuracy[0],
                         **{f"r={r:g}": a for r, a in zip(radii[1:], accuracy[1:])},
                         samples_per_image=(pd.to_numeric(group["n0"]) + pd.to_numeric(group["n"])).mean(),
                         seconds_per_image=group["seconds"].mean(), device=group["device"].iloc[0]))
    frame = pd.DataFrame(rows)
    if reference is not None:
        frame = pd.concat([frame, reference], ignore_index=True)
    radius_columns = sorted((c for c in frame.columns if c.startswith("r=")), key=lambda c: float(c[2:]))
    columns = [*KEY, "source", "images", "clean_accuracy", *radius_columns, "samples_per_image", "seconds_per_image",
               "device"]
    frame = frame[columns].sort_values(["dataset", "source", "model", "run", "certifier", "sigma"], kind="stable")
    return frame.reset_index(drop=True)


PAPER_ROWS_FILE = "rows/cohen2019_certify.csv"  # under results/reference/, per image (not a leaderboard row file)
PAPER_ROW_COLUMNS = ["dataset", "model", "sigma", "idx", "label", "predict", "radius", "correct", "seconds"]
PAPER_CIFAR10_RADII = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)  # Cohen et al. (2019), Table/Figure radii
COHEN2019_LOGS = {  # dataset: (model folder, sigmas) of the logs released with Cohen et al. (2019)
    "cifar10": ("resnet110", ["0.12", "0.25", "0.50", "1.00"]),
    "imagenet": ("resnet50", ["0.25", "0.50", "1.00"]),
}


def published_certify_rows(root: Path) -> pd.DataFrame:
    """Every row of Cohen et al.'s released certify logs (data/certify/<dataset>/<arch>/noise_s/test/sigma_s),
    one per image: dataset, model, sigma, idx, label, predict, radius, correct, seconds."""
    from bench.tables import read_certify_log

    logs = []
    for dataset, (arch, sigmas) in COHEN2019_LOGS.items():
        for sigma in sigmas:
            log = read_certify_log(root / "data/certify" / dataset / arch / f"noise_{sigma}" / "test" / f"sigma_{sigma}")
            logs.append(log.assign(dataset=dataset, model=f"cohen2019-{dataset}-{arch}-noise{sigma}",
                                   sigma=str(float(sigma))))
    return pd.concat(logs, ignore_index=True)[PAPER_ROW_COLUMNS]


def published_rows(certify_rows: pd.DataFrame) -> pd.DataFrame:
    """Leaderboard rows from the per-image rows of the released logs (published_certify_rows)."""
    rows = []
    for (dataset, model, sigma), log in certify_rows.groupby(["dataset", "model", "sigma"], sort=False):
        radii = reported_radii(dataset)
        accuracy = certified_accuracy(log, radii)
        rows.append(dict(dataset=dataset, model=model, certifier="gaussian", sigma=sigma, run="published",
                         source="published", images=len(log), clean_accuracy=accuracy[0],
                         **{f"r={r:g}": a for r, a in zip(radii[1:], accuracy[1:])},
                         samples_per_image=100_100, seconds_per_image=log["seconds"].mean(),
                         device="as published (Cohen et al. 2019)"))
    return pd.DataFrame(rows)


def paper_comparison(runs: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Our Gaussian-smoothing rows beside Cohen et al.'s released rows at the same sigma on the same test
    images: per (run, model, dataset, sigma) of ours, both restricted to the test indices both certified.
    Certified accuracy at the paper's CIFAR-10 radii; tidy (one row per source)."""
    rows = []
    ours = runs[(runs["certifier"] == "gaussian") & (runs["dataset"].map(dataset_family) == "cifar10")]
    paper = paper[paper["dataset"] == "cifar10"]
    radii = PAPER_CIFAR10_RADII
    for (run, model, dataset, sigma), group in ours.groupby(["run", "model", "dataset", "sigma"], sort=True):
        theirs = paper[paper["sigma"].astype(float) == float(sigma)]
        shared = sorted(set(group["idx"]) & set(theirs["idx"]))
        if not shared:
            continue
        for source, label, rows_of in (("this suite", f"{model} on {dataset} ({run})", group),
                                       ("published", f"{theirs['model'].iloc[0]} (Cohen et al. 2019)", theirs)):
            chosen = rows_of[rows_of["idx"].isin(shared)]
            rows.append(dict(sigma=float(sigma), source=source, model=label, images=len(chosen),
                             **{f"r={r:g}": a for r, a in zip(radii, certified_accuracy(chosen, radii))}))
    return pd.DataFrame(rows)


def reference_rows(path: Path) -> pd.DataFrame | None:
    """Published rows (results/reference/*.csv), labelled as such."""
    files = sorted(path.glob("*.csv"))
    return pd.concat([pd.read_csv(f, dtype={"sigma": str}) for f in files], ignore_index=True) if files else None


def regenerate(results: Path = Path("results")) -> list[Path]:
    run_files = sorted((results / "runs").glob("*/*.tsv"))
    if not run_files:
        raise FileNotFoundError(f"no runs under {results / 'runs'}; run `smoothbench run` first")
    runs = pd.concat([read_run(f).assign(run=run_id(f)) for f in run_files], ignore_index=True)
    frame = leaderboard_frame(runs, reference_rows(results / "reference"))
    written = [results / "leaderboard.csv", results / "leaderboard.md"]
    frame.to_csv(written[0], index=False, float_format="%.4f")
    sections = ["# smoothbench leaderboard", "",
                "Generated by `smoothbench leaderboard` from `results/runs/` and `results/reference/`; do not edit.",
                "Certified accuracy at radius r: fraction of images with a correct prediction certified at radius >= r.",
                "Rows with source 'published' are computed from the logs Cohen et al. (2019) released, not run here."]
    for dataset, group in frame.groupby("dataset", sort=True):
        table = group.drop(columns="dataset").dropna(axis=1, how="all").astype(object).fillna("")
        sections += ["", f"## {dataset}", "",
                     tabulate(table, headers="keys", tablefmt="github", showindex=False, floatfmt=".3f")]
    throughput_files = sorted((results / "throughput").glob("samples_per_s_*.csv"))
    throughput = pd.concat([pd.read_csv(f) for f in throughput_files], ignore_index=True) if throughput_files else None
    if throughput is not None:
        sections += ["", "## Sampling throughput", "",
                     "Noisy samples per second on one image (`smoothbench throughput`, results/throughput/): the plain "
                     "forward pass of the same net, fast path and batch is the ceiling; seconds per image are for "
                     "n0 + n = 100,100 samples at our rate.", "",
                     tabulate(summary_frame(throughput), headers="keys", tablefmt="github", showindex=False,
                              floatfmt=",.3f")]
    paper_rows_file = results / "reference" / PAPER_ROWS_FILE
    if paper_rows_file.is_file():
        comparison = paper_comparison(runs, pd.read_csv(paper_rows_file, dtype={"sigma": str}))
        if len(comparison):
            written.append(results / "paper_comparison.csv")
            comparison.to_csv(written[-1], index=False, float_format="%.4f")
            sections += ["", "## Beside the paper, on the same test images", "",
                         "Gaussian smoothing at each sigma: our rows and the rows of Cohen et al.'s released logs "
                         "(ResNet-110, exact pixels, n = 100,000) restricted to the test indices both certified "
                         f"(`results/paper_comparison.csv`, from `{PAPER_ROWS_FILE}`).", ""]
            for sigma, group in comparison.groupby("sigma", sort=True):
                sections += [f"sigma = {sigma:g}", "", tabulate(group.drop(columns="sigma"), headers="keys",
                                                                tablefmt="github", showindex=False, floatfmt=".3f"), ""]
    written[1].write_text("\n".join(sections).rstrip("\n") + "\n")
    plots = results / "plots"
    written += plot_certified_accuracy(runs, plots) + plot_bounds(bounds_frame(), plots)
    if throughput is not None:
        written += plot_throughput(throughput.assign(fast_path=fast_path_label(throughput)), plots)
    return written
