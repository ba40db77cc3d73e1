"""Plots (matplotlib, seaborn's colour-blind palette) as views of result frames; PNG and PDF, written
without timestamps so that the same inputs give the same files."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib

from bench.records import read_run
from bench.report.bounds import bounds_frame

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import EngFormatter, FuncFormatter  # noqa: E402

from bench.report.tables import certified_accuracy  # noqa: E402
from smoothing.datasets import dataset_info  # noqa: E402

METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}
PALETTE = "colorblind"
ENVELOPE = "envelope"


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
    """Tidy curves: certified accuracy at each radius of a fine grid shared by a dataset's runs, per
    (dataset, run, model, certifier, sigma); for each (dataset, run, certifier) also the envelope over the
    models and sigmas that hold all of the run's images (model = sigma = 'envelope'): a curve of a run part way
    is over other images, so it stays out. Rows without a run column are one run. Deterministic certifiers
    (no sigma) have sigma NaN."""
    runs = runs if "run" in runs.columns else runs.assign(run="run")
    rows = []
    for dataset, runs_of_dataset in runs.groupby("dataset"):
        grid = np.linspace(0.0, max(1.0, float(runs_of_dataset["radius"].max()) * 1.05), 401)
        keys = ["run", "model", "certifier", "sigma"]
        for (run, model, certifier, sigma), group in runs_of_dataset.groupby(keys, dropna=False):
            rows += [dict(dataset=dataset, run=run, model=model, certifier=certifier, sigma=sigma, images=len(group),
                          radius=r, accuracy=a) for r, a in zip(grid, certified_accuracy(group, grid))]
    curves = pd.DataFrame(rows)
    whole = curves["images"] == curves.groupby(["dataset", "run"])["images"].transform("max")
    envelope = (curves[whole].groupby(["dataset", "run", "certifier", "radius"], as_index=False)
                .agg(accuracy=("accuracy", "max"), images=("images", "max"))
                .assign(model=ENVELOPE, sigma=ENVELOPE))
    return pd.concat([curves, envelope], ignore_index=True)


def named_colours(names: list[str], everything: list[str]) -> dict[str, tuple]:
    """One colour per name, fixed by its place in `everything` (a registry's sorted names): the same name has
    the same colour in every figure."""
    palette = dict(zip(everything, sns.color_palette(PALETTE, len(everything))))
    return {name: palette[name] for name in names}


def certifier_colours(names: list[str]) -> dict[str, tuple]:
    from smoothing.certifiers import certifier_names

    return named_colours(names, certifier_names())


def _step(axis: plt.Axes, frame: pd.DataFrame, colours: dict[str, tuple]) -> None:
    for certifier, curve in frame.groupby("certifier", sort=True):
        axis.plot(curve["radius"], curve["accuracy"], drawstyle="steps-post", color=colours[certifier],
                  label=certifier, linewidth=1.6)
    axis.set_ylim(-0.02, 1.02)
    axis.grid(alpha=0.3)


def plot_certified_accuracy(runs: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One figure per run: a panel per (model, sigma) of the smoothing certifiers, a panel per model of the
    deterministic ones, and the envelope of every certifier over models and sigmas in the last panel."""
    curves = certified_curves(runs)
    paths = []
    for (dataset, run), frame in curves.groupby(["dataset", "run"], sort=True):
        colours = certifier_colours(sorted(frame["certifier"].unique()))
        own = frame[frame["model"] != ENVELOPE]
        groups = list(own.groupby(["model", "sigma"], sort=True, dropna=False))
        counts = [int(group["images"].max()) for _, group in groups]
        part_way = len(set(counts)) > 1  # a run part way: each panel says how many images it holds
        panels = [((f"{model}, sigma = {sigma:g}" if not pd.isna(sigma) else f"{model} (no noise)")
                   + (f" ({count} images)" if part_way else ""), group)
                  for ((model, sigma), group), count in zip(groups, counts)]
        images = max(counts)
        panels.append((f"envelope over the models and sigmas with {images} images" if part_way
                       else "envelope over all models and sigmas", frame[frame["model"] == ENVELOPE]))
        columns = min(3, len(panels))
        rows = -(-len(panels) // columns)
        figure, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.4 * rows), squeeze=False,
                                    sharex=True, sharey=True)
        for axis, (title, group) in zip(axes.flat, panels):
            _step(axis, group, colours)
            axis.set_title(title, fontsize=9)
        for axis in axes.flat[len(panels):]:
            axis.set_visible(False)
        for axis in axes.flat[:len(panels)]:
            axis.tick_params(labelbottom=True)
            axis.set_xlabel("l2 radius r")
        for axis in axes[:, 0]:
            axis.set_ylabel("certified accuracy")
        samples = sorted({int(n) for n in runs.loc[(runs["run"] == run) if "run" in runs else slice(None), "n"].dropna()})
        n_text = f"n = {samples[-1]:,}" if samples else "deterministic certifiers only"
        figure.suptitle(f"Certified accuracy on {dataset}: {'up to ' if part_way else ''}{images} test "
                        f"images, {n_text} ({run})", y=1.0)
        handles, labels = axes.flat[len(panels) - 1].get_legend_handles_labels()
        figure.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.04), frameon=False)
        figure.tight_layout()
        paths += save(figure, out_dir / f"certified_accuracy_{re.sub(r'[^A-Za-z0-9._-]', '_', run)}")
    return paths


def plot_bounds(bounds: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Radius / sigma of each guarantee against pA (pB = 1 - pA): one curve per guarantee, since every
    guarantee's radius is proportional to sigma."""
    scaled = bounds.assign(radius_over_sigma=bounds["radius"] / bounds["sigma"])
    scaled = scaled[scaled["sigma"] == scaled["sigma"].min()]
    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    colours = certifier_colours(sorted(scaled["guarantee"].unique()))
    for guarantee, curve in scaled.groupby("guarantee", sort=True):
        axis.plot(curve["p_a"], curve["radius_over_sigma"], marker="o", color=colours[guarantee], label=guarantee)
    axis.set_xlabel("pA (pB = 1 - pA)")
    axis.set_ylabel("certified radius / sigma")
    axis.set_title("Certified radius of each smoothing guarantee (any sigma)")
    axis.grid(alpha=0.3)
    axis.legend()
    return save(figure, out_dir / "bounds")


def short_number(value: float) -> str:
    """3 significant digits, thousands as k: 112k, 7.55k, 428, 0.92."""
    return f"{value / 1000:.3g}k" if abs(value) >= 1000 else f"{value:.3g}"


def _bars_per_panel(frame: pd.DataFrame, x: str, xlabel: str, title: str, **bar_options) -> sns.FacetGrid:
    """Horizontal bars of `x` per fast path and method, one panel per value of frame["panel"] (sorted),
    each panel on its own scale and with only its own fast paths."""
    from bench.tools.throughput import METHOD_NAMES

    methods = [name for name in METHOD_NAMES if name in set(frame["method"])]
    grid = sns.catplot(data=frame.sort_values("panel", kind="stable"), x=x, y="fast_path", hue="method", col="panel", col_wrap=2,
                       kind="bar", height=2.8, aspect=1.7, sharex=False, sharey=False, hue_order=methods,
                       palette=named_colours(methods, list(METHOD_NAMES)), **bar_options)
    grid.set_axis_labels(xlabel, "")
    grid.set_titles("{col_name}", size=8)
    for axis in grid.axes.flat:  # each bar's value at its end, so no reading off an axis
        for bars in axis.containers:
            axis.bar_label(bars, labels=[short_number(bar.get_width()) for bar in bars], fontsize=5.5, padding=2)
        axis.margins(x=0.15)
        axis.tick_params(axis="y", labelsize=7)
    sns.move_legend(grid, "upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, title=None, frameon=False)
    grid.figure.suptitle(title, y=1.02)
    return grid


def plot_throughput(throughput: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Noisy samples per second, one panel per (device, net) measured, each on its own scale: the plain
    forward pass (ceiling) beside the samplers for each fast path."""
    grid = _bars_per_panel(throughput.assign(panel=throughput["device"] + "\n" + throughput["arch"]),
                           "samples_per_s", "noisy samples per second",
                           "Sampling throughput against the forward-pass ceiling")
    for axis in grid.axes.flat:
        axis.xaxis.set_major_formatter(EngFormatter(sep=""))  # 100k, not 100000 crowding the next tick
    return save(grid.figure, out_dir / "throughput")


def plot_certify_seconds(seconds: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Seconds per CERTIFY of one image, one panel per (device, net, n): ours with each fast path beside
    the reference implementations run as released, mean over the timed images."""
    panel = seconds["device"] + "\n" + seconds["arch"] + ", n = " + seconds["n"].map("{:,}".format)
    grid = _bars_per_panel(seconds.assign(panel=panel), "seconds", "seconds per image (CERTIFY, n0 + n samples)",
                           "CERTIFY time per image: ours and the reference", errorbar=None)
    return save(grid.figure, out_dir / "certify_seconds")


def plot_command(args: argparse.Namespace) -> None:
    runs = pd.concat([read_run(path) for path in args.runs], ignore_index=True)
    for path in plot_certified_accuracy(runs, Path(args.out)) + plot_bounds(bounds_frame(), Path(args.out)):
        print(path)


def add_commands(commands: argparse._SubParsersAction) -> None:
    plot = commands.add_parser("plot", help="certified accuracy curves of suite runs, and the bounds comparison")
    plot.add_argument("runs", nargs="+", help="suite run TSV files")
    plot.add_argument("--out", default="results/plots")
    plot.set_defaults(handler=plot_command)


def scheme_colours(names: list[str]) -> dict[str, tuple]:
    """One colour per sequential scheme, keyed by its name, in every figure."""
    from smoothing.sequential import scheme_names

    return named_colours(names, scheme_names())


def plot_sample_efficiency(summary: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per dataset: samples saved against median radius loss (a point per scheme and sigma), and mean samples
    per image per sigma beside the oracle limit (black bars' tops), at the first futility threshold of
    sample-efficiency's summary; with several thresholds, a third panel: samples saved against cell changes
    per scheme and sigma as the threshold varies."""
    datasets = sorted(summary["dataset"].unique())
    colours = scheme_colours(list(dict.fromkeys(summary["scheme"])))
    thresholds = list(dict.fromkeys(summary["predictive"]))
    columns = 2 if len(thresholds) == 1 else 3
    figure, axes = plt.subplots(len(datasets), columns, figsize=(5.25 * columns, 3.6 * len(datasets)), squeeze=False)
    for panels, dataset in zip(axes, datasets):
        trade_off, samples = panels[:2]
        every = summary[summary["dataset"] == dataset]
        frame = every[every["predictive"] == thresholds[0]]
        for scheme, group in frame.groupby("scheme", sort=False):
            trade_off.plot(100 * group["median_radius_loss"], group["saved"], "o-", color=colours[scheme], label=scheme)
            labelled = group.iloc[:1] if scheme == "fixed" else group  # fixed n: one point for every sigma
            for _, row in labelled.iterrows():
                label = "every sigma" if scheme == "fixed" else f"{row['sigma']:g}"
                trade_off.annotate(label, (100 * row["median_radius_loss"], row["saved"]), fontsize=7,
                                   xytext=(4, 3), textcoords="offset points")
        _saving_axis(trade_off, "median radius loss against fixed n (%)",
                     f"{dataset}: saving against radius loss (labels: sigma)")
        sigmas = sorted(frame["sigma"].unique())
        schemes = list(dict.fromkeys(frame["scheme"]))
        width = 0.8 / len(schemes)
        for offset, scheme in enumerate(schemes):
            means = frame[frame["scheme"] == scheme].set_index("sigma").loc[sigmas, "mean_samples"]
            positions = np.arange(len(sigmas)) + (offset - (len(schemes) - 1) / 2) * width
            bars = samples.bar(positions, means, width, color=colours[scheme], label=scheme)
            samples.bar_label(bars, labels=[f"{m / 1000:.0f}k" if m >= 1000 else f"{m:.0f}" for m in means],
                              fontsize=6, padding=1)
        oracle = frame.groupby("sigma")["oracle_mean_samples"].first().loc[sigmas]
        samples.hlines(oracle, np.arange(len(sigmas)) - 0.45, np.arange(len(sigmas)) + 0.45, colors="black",
                       linewidth=1.4, label="oracle (pA known)")
        samples.set_yscale("log")
        samples.set_xticks(np.arange(len(sigmas)), [f"sigma = {s:g}" for s in sigmas])
        samples.set_ylabel("mean samples per image")
        samples.set_title(f"{dataset}: samples per image", fontsize=9)
        samples.grid(alpha=0.3, axis="y", which="both")
        if columns == 3:
            _futility_frontier(panels[2], every[every["scheme"] != "fixed"], colours, dataset)
    handles, labels = axes[0, 1].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.03), frameon=False)
    first = summary.iloc[0]
    figure.suptitle(f"Sequential schemes on the released per-image pA (n_max = {first['n_max']:,}, "
                    f"alpha = {first['alpha']:g}, {first['repetitions']} simulations per image, futility "
                    f"{thresholds[0]:g})", y=1.0)
    figure.tight_layout()
    return save(figure, out_dir / ("sample_efficiency" if columns == 2 else "sample_efficiency_futility"))


def _futility_frontier(axis: plt.Axes, summary: pd.DataFrame, colours: dict[str, tuple], dataset: str) -> None:
    """Samples saved against the fraction of cells changed, one line per (scheme, sigma) through the futility
    thresholds (a marker per threshold, the sigma at the line's end)."""
    thresholds = sorted(summary["predictive"].unique())
    markers = dict(zip(thresholds, "os^Dv<>p"))
    for (scheme, sigma), group in summary.groupby(["scheme", "sigma"], sort=True):
        group = group.sort_values("predictive")
        axis.plot(100 * group["cell_changes"], group["saved"], "-", color=colours[scheme], linewidth=1)
        for _, row in group.iterrows():
            axis.plot(100 * row["cell_changes"], row["saved"], markers[row["predictive"]], color=colours[scheme],
                      markersize=4)
        axis.annotate(f"{sigma:g}", (100 * group["cell_changes"].iloc[-1], group["saved"].iloc[-1]), fontsize=7,
                      xytext=(4, 0), textcoords="offset points")
    for threshold, marker in markers.items():
        axis.plot([], [], marker, color="grey", markersize=4, linestyle="none", label=f"futility {threshold:g}")
    axis.legend(fontsize=7, loc="lower right")
    axis.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    _saving_axis(axis, "cell changes against fixed n (%)", f"{dataset}: as the futility threshold varies (labels: sigma)")


def _saving_axis(axis: plt.Axes, xlabel: str, title: str) -> None:
    """A panel of samples saved (log scale, ticks as 5x, 10x, 20x, ...) against `xlabel`."""
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axis.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}x" if str(value)[0] in "25" else ""))
    axis.set_xlabel(xlabel)
    axis.set_ylabel("samples saved (n_max / mean)")
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3, which="both")


def plot_sequential_run(sequential: pd.DataFrame, scheme: str, fixed: pd.DataFrame | None,
                        simulated: pd.DataFrame | None, out_dir: Path) -> list[Path]:
    """Per sigma of a sequential run: the fraction of images certified within s samples against s (the real
    run), beside the same scheme simulated on Cohen et al.'s per-image pA (mean samples per image) where given,
    and the fixed-n run's n and n_max as vertical lines."""
    sigmas = sorted(sequential["sigma"].unique())
    colour = scheme_colours([scheme])[scheme]
    figure, axes = plt.subplots(1, len(sigmas), figsize=(3.3 * len(sigmas), 3.2), squeeze=False, sharey=True)
    family = dataset_info(sequential["dataset"].iloc[0]).family
    for axis, sigma in zip(axes[0], sigmas):
        rows = sequential[sequential["sigma"] == sigma]
        samples = np.sort(rows["n"].to_numpy())
        axis.step(samples, np.arange(1, len(samples) + 1) / len(samples), where="post", color=colour,
                  label=f"{scheme}, this run (our models, real images)")
        if simulated is not None and f"{scheme}_samples" in simulated:
            chosen = simulated[(simulated["dataset"] == family) & np.isclose(simulated["sigma"], sigma)]
            if len(chosen):
                expected = np.sort(chosen[f"{scheme}_samples"].to_numpy())
                axis.step(expected, np.arange(1, len(expected) + 1) / len(expected), where="post", color=colour,
                          linestyle="--", label=f"{scheme}, simulated on Cohen et al.'s per-image pA")
        axis.axvline(rows["n_max"].iloc[0], color="black", linewidth=1, label="n_max")
        if fixed is not None and len(theirs := fixed[np.isclose(fixed["sigma"], sigma)]):
            axis.axvline(theirs["n"].iloc[0], color="grey", linestyle=":", linewidth=1.2, label="fixed run's n")
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(EngFormatter(sep=""))
        axis.set_title(f"sigma = {sigma:g} ({len(samples)} images)", fontsize=9)
        axis.set_xlabel("estimation samples")
        axis.grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel("fraction of images done")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.08), frameon=False,
                  fontsize=8)
    figure.suptitle(f"{sequential['run'].iloc[0]}: samples per image on real images", y=1.02)
    figure.tight_layout()
    return save(figure, out_dir / f"sequential_run_{sequential['run'].iloc[0].split('/')[0]}")


def plot_derived_guarantees(field: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per benchmark, one panel per published method: certified accuracy at the benchmark's radii of each
    guarantee (best over the method's logs, all from the pA of the published radii), one colour per certifier."""
    derived = field[field["kind"] == "derived"]
    paths = []
    for name, frame in derived.groupby("benchmark", sort=True):
        radii = sorted(float(c[2:]) for c in frame.columns if c.startswith("r=") and not c.endswith(("low", "high"))
                       and frame[c].notna().any())
        methods = list(dict.fromkeys(frame.sort_values(["source", "method", "arch", "extra_data"])
                                     .apply(lambda r: (r["source"], r["method"], r["arch"], r["extra_data"]), axis=1)))
        columns = min(3, len(methods))
        rows = -(-len(methods) // columns)
        figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.1 * rows), squeeze=False, sharey=True)
        colours = certifier_colours(sorted(frame["certifier"].unique()))
        for axis, (source, method, arch, extra) in zip(axes.flat, methods):
            mine = frame[(frame["source"] == source) & (frame["method"] == method) & (frame["arch"] == arch)
                         & (frame["extra_data"] == extra)]
            for certifier, group in mine.groupby("certifier", sort=True):
                best = [group[f"r={r:g}"].max() for r in radii]
                axis.step(radii, best, where="post", color=colours[certifier], label=certifier, linewidth=1.6)
            axis.set_title(f"{method}, {arch} ({source})" + (f"\n+ {extra}" if extra else ""), fontsize=8)
            axis.set_xlim(-0.02 * radii[-1], radii[-1] * 1.04)
            axis.set_ylim(-0.02, 1.02)
            axis.grid(alpha=0.3)
            axis.set_xlabel("l2 radius r")
        for axis in axes.flat[len(methods):]:
            axis.set_visible(False)
        for axis in axes[:, 0]:
            axis.set_ylabel("certified accuracy")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.04), frameon=False)
        figure.suptitle(f"The guarantees on the published logs, {name} (derived from the printed radii)", y=1.0)
        figure.tight_layout()
        paths += save(figure, out_dir / f"derived_guarantees_{name}")
    return paths


def plot_field(curves: pd.DataFrame, out_dir: Path, top: int = 8) -> list[Path]:
    """Per benchmark, the field's figure: certified accuracy against radius, one step curve per method (its
    envelope over sigmas and variants) with its 95 % band, the `top` methods by area under the curve (about
    their average certified radius); methods using extra data dashed."""
    paths = []
    if curves.empty:  # nothing on a benchmark
        return paths
    for name, frame in curves.groupby("benchmark", sort=True):
        area = frame.groupby(["method", "extra_data"])["accuracy"].sum().sort_values(ascending=False)
        chosen = list(area.index[:top])
        palette = sns.color_palette("tab10", len(chosen))
        figure, axis = plt.subplots(figsize=(7.5, 4.6))
        for colour, (method, extra) in zip(palette, chosen):
            curve = frame[(frame["method"] == method) & (frame["extra_data"] == extra)]
            label = method + (f" + {extra}" if extra else "")
            axis.step(curve["radius"], curve["accuracy"], where="post", color=colour, linewidth=1.5,
                      linestyle="--" if extra else "-", label=label)
            axis.fill_between(curve["radius"], curve["low"], curve["high"], step="post", color=colour, alpha=0.12)
        axis.set_xlim(0, float(frame["radius"].max()))
        axis.set_ylim(0, 1)
        axis.set_xlabel("l2 radius r")
        axis.set_ylabel("certified accuracy")
        axis.grid(alpha=0.3)
        axis.set_title(f"{name}: each method's best over its sigmas and variants (95 % bands; dashed: extra data)",
                       fontsize=9)
        axis.legend(fontsize=7, loc="upper right")
        figure.tight_layout()
        paths += save(figure, out_dir / f"field_{name}")
    return paths
