"""Certified-accuracy tables from certify logs (ours or the reference's: idx label predict radius correct time).

Approximate certified accuracy at radius r (Cohen et al. 2019, section 4): the fraction of rows with
correct = 1 and radius >= r. Tables are views of a tidy frame (log, radius, accuracy); the best entry per
radius is marked, as in the paper's published tables.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.commands import non_negative_float, positive_float, write_csv
from bench.records import CERTIFY_COLUMNS
from smoothing.datasets import dataset_info

NUMERIC_COLUMNS = ["idx", "label", "predict", "radius", "correct"]
MOST_RADII = 10_000  # of a `table` grid: more would take minutes and print nothing readable


def read_certify_log(path: str | os.PathLike) -> pd.DataFrame:
    """The rows of a certify log; a foreign or corrupt file is named with the line at fault."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"certify log not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f, delimiter="\t"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a certify log (not UTF-8 text: {error})") from error
    if not lines or lines[0][: len(CERTIFY_COLUMNS)] != CERTIFY_COLUMNS:
        header = "\t".join(lines[0]) if lines else "(empty file)"
        raise ValueError(f"{path}:1: not a certify log: header {header!r}, expected {chr(9).join(CERTIFY_COLUMNS)!r}")
    width = len(lines[0])
    rows = []
    for number, fields in enumerate(lines[1:], start=2):
        try:
            if len(fields) != width:
                raise ValueError(f"{len(fields)} fields, expected {width}")
            row = dict(zip(lines[0], fields))
            values = {c: float(row[c]) if c == "radius" else int(row[c]) for c in NUMERIC_COLUMNS}
            rows.append(dict(values, seconds=parse_seconds(row["time"])))
        except ValueError as error:
            raise ValueError(f"{path}:{number}: unreadable row ({error})") from error
    return pd.DataFrame(rows, columns=[*NUMERIC_COLUMNS, "seconds"])


def parse_seconds(text: str) -> float:
    """Seconds from '15.4' or from a timedelta string '0:02:19.41' (the reference's ImageNet logs)."""
    parts = text.split(":")
    return sum(float(part) * 60**i for i, part in enumerate(reversed(parts)))


def certified_accuracy(rows: pd.DataFrame, radii: Sequence[float]) -> list[float]:
    """Fraction of rows with correct = 1 and radius >= r, for each r (the certified radii sorted once, then
    counted at every r by binary search)."""
    if not len(rows):
        return [float("nan")] * len(radii)
    certified = np.sort(rows.loc[rows["correct"] == 1, "radius"].dropna().to_numpy(dtype=float))
    counts = len(certified) - np.searchsorted(certified, np.asarray(radii, dtype=float), side="left")
    return [float(count / len(rows)) for count in counts]


def accuracy_columns(rows: pd.DataFrame, radii: Sequence[float]) -> dict[str, float]:
    """Certified accuracy of `rows` at each radius, keyed "r=<radius>" (the column names of tidy tables)."""
    return {f"r={r:g}": a for r, a in zip(radii, certified_accuracy(rows, radii))}


def accuracy_frame(logs: dict[str, pd.DataFrame], radii: Sequence[float]) -> pd.DataFrame:
    """Tidy frame: log, radius, accuracy, best (the largest accuracy at that radius; ties all best)."""
    frame = pd.DataFrame(
        [dict(log=name, radius=r, accuracy=a) for name, rows in logs.items()
         for r, a in zip(radii, certified_accuracy(rows, radii))]
    )
    frame["best"] = frame["accuracy"] == frame.groupby("radius")["accuracy"].transform("max")
    return frame


def radius_grid(start: float, stop: float, step: float) -> list[float]:
    """start, start + step, ..., stop (the reference's np.arange(start, stop + step, step))."""
    return [float(r) for r in np.arange(start, stop + step, step)]


def _cells(frame: pd.DataFrame, mark: str) -> tuple[list[str], list[list[str]]]:
    radii = list(dict.fromkeys(frame["radius"]))
    body = []
    for name, group in frame.groupby("log", sort=False):
        body.append([name] + [mark.format(f"{a:.2f}") if best else f"{a:.2f}"
                              for a, best in zip(group["accuracy"], group["best"])])
    return [f"r = {r:g}" for r in radii], body


def markdown_table(frame: pd.DataFrame) -> str:
    headers, body = _cells(frame, "{}*")
    return tabulate(body, headers=[""] + headers, tablefmt="github", disable_numparse=True)


def latex_table(frame: pd.DataFrame) -> str:
    headers, body = _cells(frame, r"\textbf{{{}}}")
    lines = [" & ".join([""] + [f"$r = {h[4:]}$" for h in headers]) + r" \\", r"\midrule"]
    lines += [" & ".join(row) + r" \\" for row in body]
    return "\n".join(lines)


def log_label(path: str | os.PathLike) -> str:
    """A row label from the log's path: 'sigma = 0.25' for '.../sigma_0.25', else the file name."""
    match = re.search(r"sigma_?([0-9.]+)", Path(path).name)
    return f"sigma = {match.group(1).rstrip('.')}" if match else Path(path).name


def run_accuracy_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Certified accuracy per (model, certifier, sigma) of a run at its dataset's reported radii."""
    logs = {f"{model} {certifier}" + ("" if pd.isna(sigma) else f" sigma={sigma:g}"): group
            for (model, certifier, sigma), group in frame.groupby(["model", "certifier", "sigma"], sort=True, dropna=False)}
    return accuracy_frame(logs, dataset_info(frame["dataset"].iloc[0]).reported_radii)


def table_command(args: argparse.Namespace) -> None:
    if not args.radii:
        steps = (args.radius_stop - args.radius_start) / args.radius_step
        if steps < 0 or steps > MOST_RADII:
            raise ValueError(f"--radius-start {args.radius_start:g} --radius-stop {args.radius_stop:g} --radius-step "
                             f"{args.radius_step:g} makes {max(steps, 0) + 1:,.0f} radii; choose a start <= stop and a "
                             f"step that makes at most {MOST_RADII:,}")
    radii = args.radii or radius_grid(args.radius_start, args.radius_stop, args.radius_step)
    logs = {log_label(path): read_certify_log(path) for path in args.logs}
    if len(logs) != len(args.logs):
        logs = {str(path): read_certify_log(path) for path in args.logs}  # labels collide: use the paths
    frame = accuracy_frame(logs, radii)
    markdown, latex = markdown_table(frame), latex_table(frame)
    print(markdown)
    if args.out:
        out = Path(args.out)
        write_csv(frame, out.with_suffix(".csv"))
        out.with_suffix(".md").write_text(markdown + "\n")
        out.with_suffix(".tex").write_text(latex + "\n")


def add_commands(commands: argparse._SubParsersAction) -> None:
    table = commands.add_parser("table", help="approximate certified accuracy of certify logs (Markdown, LaTeX, CSV)")
    table.add_argument("logs", nargs="+", help="certify TSV files (ours or the reference's)")
    table.add_argument("--radii", type=non_negative_float, nargs="+", help="radii (default: the start/stop/step grid)")
    table.add_argument("--radius-start", type=non_negative_float, default=0.25)
    table.add_argument("--radius-stop", type=non_negative_float, default=1.5)
    table.add_argument("--radius-step", type=positive_float, default=0.25)
    table.add_argument("--out", help="write OUT.md, OUT.tex and the tidy OUT.csv")
    table.set_defaults(handler=table_command)
