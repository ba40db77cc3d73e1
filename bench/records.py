"""The result files, defined once: the reference's certify and predict logs (their columns), and the run
file of a suite: where it lives, its columns and key, how a row is written and how the file is read back.

`<results>/runs/<suite>/<run-id>.tsv` (or `<run-id>.rank<r>-of-<K>.tsv`, one per torchrun rank): tab-
separated with a header, one row per (model, certifier, sigma, image), written and read with the csv
module. A value that does not apply (sigma, n0, n, alpha, batch of a deterministic certifier) is an empty
field, read back as NaN. Numbers are written so that reading gives them back exactly: integers as
integers, floats by their shortest round-trip repr, the radius rounded *down* to 6 significant digits
(a written radius never exceeds the certified one), seconds to 0.1 ms.
"""
from __future__ import annotations

import csv
import io
import itertools
import math
import re
import warnings
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.tsv import read_settings, settings_path
from smoothing.statistics import largest_certifiable_radius

if TYPE_CHECKING:
    from bench.suite import Suite

CERTIFY_COLUMNS = ["idx", "label", "predict", "radius", "correct", "time"]  # the reference's certify log
SEQUENTIAL_CERTIFY_COLUMNS = [*CERTIFY_COLUMNS, "n"]  # `certify --sequential`: also the samples each image used
PREDICT_COLUMNS = ["idx", "label", "predict", "correct", "time"]  # the reference's predict log
RUN_COLUMNS = ["suite", "dataset", "model", "train_sigma", "certifier", "sigma", "idx", "label", "predict",
               "radius", "correct", "n0", "n", "alpha", "seconds", "device", "precision", "channels_last", "compile",
               "batch", "seed", "code_version"]
RUN_KEY = ("model", "certifier", "sigma", "idx")  # one row per key; a resumed run skips the keys it has
TEXT_COLUMNS = ("suite", "dataset", "model", "certifier", "device", "precision", "code_version")
RADIUS_DIGITS = 6
INTEGER_COLUMNS = ("idx", "label", "predict", "correct", "n0", "n", "channels_last", "compile", "batch", "seed")


def format_radius(radius: float, digits: int = 3) -> str:
    """The radius to `digits` significant digits, rounded down (in exact decimal arithmetic, so also for
    subnormal radii), so a printed radius never exceeds the certified one."""
    if not math.isfinite(radius):
        raise ValueError(f"radius {radius} is not a finite number; a certifier returned it: nothing is written")
    if radius <= 0:
        return "0.0"
    exact = Decimal(radius)
    floored = exact.quantize(Decimal(1).scaleb(exact.adjusted() - digits + 1), rounding=ROUND_FLOOR)
    return f"{float(floored):.{digits}}"


def encode(column: str, value: Any) -> str:
    """One field of a run row: empty for not applicable (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if column == "radius":
        return format_radius(value, RADIUS_DIGITS)
    if column == "seconds":
        return f"{value:.4f}"
    if isinstance(value, bool):
        return str(int(value))
    if column in INTEGER_COLUMNS and isinstance(value, float) and value.is_integer():
        return str(int(value))  # a typed frame holds an integer column with gaps as floats
    return repr(float(value)) if isinstance(value, float) else str(value)


def encode_row(values: dict[str, Any]) -> list[str]:
    return [encode(column, values[column]) for column in RUN_COLUMNS]


def sigma_key(sigma: float | str | None) -> float | None:
    """The sigma of a row key: a float whatever its spelling ("0.5", "0.50", 0.5), None where none applies."""
    return None if sigma in (None, "") or (isinstance(sigma, float) and math.isnan(sigma)) else float(sigma)


def row_key(model: str, certifier: str, sigma: float | str | None, idx: int | str) -> tuple:
    """A row's key, the same whether it comes from a suite or from the file's text."""
    return model, certifier, sigma_key(sigma), int(idx)


def key_of_fields(fields: list[str]) -> tuple:
    """The key of a row as written (its text fields, in RUN_COLUMNS order)."""
    return row_key(*(fields[RUN_COLUMNS.index(column)] for column in RUN_KEY))


def run_path(runs_dir: Path, suite: str, run_id: str, shard_suffix: str = "") -> Path:
    return Path(runs_dir) / suite / f"{run_id}{shard_suffix}.tsv"


def run_label(path: Path) -> str:
    """<suite>/<run-id> of a run file <suite>/<run-id>.tsv or <suite>/<run-id>.rank<r>-of-<K>.tsv."""
    return f"{path.parent.name}/{path.name.removesuffix('.tsv').split('.rank')[0]}"


def run_files(runs_dir: Path) -> list[Path]:
    return sorted(Path(runs_dir).glob("*/*.tsv"))


ABSTAIN = -1  # the prediction of an abstention (smoothing.core.ABSTAIN)
RADIUS_TOLERANCE = 1e-9  # relative: radii written by earlier versions may sit an ulp or two above the cap


def parse_run_rows(rows: list[list[str]], path: Path, first_line: int = 2) -> pd.DataFrame:
    """Typed rows (numbers as numbers, not applicable as NaN) from a run file's fields; a value of the wrong
    kind is named with its file, line and column."""
    for number, row in enumerate(rows, start=first_line):
        if len(row) != len(RUN_COLUMNS):
            raise ValueError(f"{path}:{number}: {len(row)} fields, expected {len(RUN_COLUMNS)}")
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for column in RUN_COLUMNS:
        if column in TEXT_COLUMNS:
            continue
        values = []
        for number, text in enumerate(frame[column], start=first_line):
            try:
                # Python's float() reads a round-trip repr exactly (pandas 2's to_numeric does not).
                value = float(text) if text else float("nan")
                if column in INTEGER_COLUMNS and text and (not value.is_integer() or "." in text or "e" in text.lower()):
                    raise ValueError("not an integer")
            except ValueError:
                raise ValueError(f"{path}:{number}: column {column} holds {text[:20]!r}, which is not "
                                 f"{'an integer' if column in INTEGER_COLUMNS else 'a number'}; the file is corrupt: "
                                 "remove the row or rerun the suite") from None
            values.append(value)
        series = pd.Series(values, dtype=float)
        frame[column] = series.astype("int64") if column in INTEGER_COLUMNS and series.notna().all() else series
    return frame


def impossible_rows(frame: pd.DataFrame) -> pd.Series:
    """Why each row cannot have come from a certifier (empty where it can): a radius that is not a number
    >= 0, or above what n samples certify at level alpha (sigma PhiInv(alpha^(1/n))) for a smoothing row; an
    abstention with a radius or marked correct; `correct` that is not predict == label."""
    radius = frame["radius"]
    smoothing = frame["sigma"].notna()
    with np.errstate(all="ignore"):
        cap = pd.Series(largest_certifiable_radius(frame["sigma"].where(smoothing, 1.0),
                                                   frame["n"].where(smoothing, 1.0),
                                                   frame["alpha"].where(smoothing, 0.5)), index=frame.index)
    abstained = frame["predict"] == ABSTAIN
    problems = [
        (~np.isfinite(radius) | (radius < 0), lambda r: f"radius {r.radius} is not a number >= 0"),
        (smoothing & ~((frame["alpha"] > 0) & (frame["alpha"] < 1) & (frame["n"] >= 1) & (frame["sigma"] > 0)),
         lambda r: f"alpha = {r.alpha:g}, n = {r.n:g}, sigma = {r.sigma:g}: not a certification's settings"),
        (smoothing & (radius > cap * (1 + RADIUS_TOLERANCE)),
         lambda r: f"radius {r.radius:g} exceeds {cap[r.name]:.6g}, the largest that n = {r.n:g} samples certify at "
                   f"alpha = {r.alpha:g} and sigma = {r.sigma:g}"),
        (abstained & (radius != 0), lambda r: f"an abstention (predict = -1) with radius {r.radius:g}"),
        (abstained & (frame["correct"] != 0), lambda _: "an abstention (predict = -1) marked correct"),
        (frame["correct"] != (frame["predict"] == frame["label"]).astype(int),
         lambda r: f"correct = {r.correct} but predict = {r.predict} and label = {r.label}"),
    ]
    why = pd.Series("", index=frame.index)
    for mask, describe in problems:
        for index in frame.index[mask & (why == "")]:
            why[index] = describe(frame.loc[index])
    return why


def check_rows(frame: pd.DataFrame, path: Path, suite: "Suite | None", first_line: int = 2) -> None:
    """Refuse the first impossible row (impossible_rows), or one the run's suite cannot have written: another
    suite or dataset, a model, certifier or sigma it does not list, other n0, n, alpha or seed (a sequential
    run stops early: n and alpha at most the suite's)."""
    why = impossible_rows(frame)
    if suite is not None:
        why = why.where(why != "", suite_mismatches(frame, suite))
    bad = why[why != ""]
    if len(bad):
        more = f" ({len(bad) - 1} more such rows)" if len(bad) > 1 else ""
        raise ValueError(f"{path}:{bad.index[0] + first_line}: impossible row: {bad.iloc[0]}{more}; remove it (and "
                         "its like) from the file, or rerun the suite into a new run id")


def suite_mismatches(frame: pd.DataFrame, suite: "Suite") -> pd.Series:
    """Why each row is not one `suite` writes (empty where it is)."""
    declared = {(model["name"], certifier): {sigma_key(s) for s in model.get("sigmas", [])}
                for model in suite.models for certifier in suite.certifiers_of(model)}
    why = pd.Series("", index=frame.index)
    for index, row in frame.iterrows():
        key = (row["model"], row["certifier"])
        sigma = sigma_key(row["sigma"])
        if row["suite"] != suite.name or row["dataset"] != suite.dataset:
            why[index] = f"suite {row['suite']} on {row['dataset']}, not suite {suite.name} on {suite.dataset}"
        elif key not in declared or (sigma is not None and sigma not in declared[key]):
            why[index] = (f"model {key[0]} with certifier {key[1]} at sigma {row['sigma']:g} is not in suite "
                          f"{suite.name}")
        elif sigma is not None and not (row["n0"] == suite.n0 and (row["n"] <= suite.n and row["alpha"] <= suite.alpha
                                        if suite.sequential else row["n"] == suite.n and row["alpha"] == suite.alpha)):
            why[index] = (f"n0 = {row['n0']:g}, n = {row['n']:g}, alpha = {row['alpha']:g}, but suite {suite.name} "
                          f"certifies with n0 = {suite.n0}, n = {suite.n}, alpha = {suite.alpha}")
        elif row["seed"] != suite.seed:
            why[index] = f"seed {row['seed']}, but suite {suite.name} seeds with {suite.seed}"
    return why


def suite_of_run(path: Path) -> "Suite | None":
    """The suite a run file was written for, from the settings beside it (None where none is named)."""
    from bench.suite import suite_from_text

    sidecar = settings_path(path)
    if not sidecar.is_file():
        return None
    settings = read_settings(path)
    if not isinstance(settings, dict) or "suite_text" not in settings:
        return None
    return suite_from_text(settings["suite_text"], str(sidecar), settings.get("overrides"))


def read_run(path: str | Path) -> pd.DataFrame:
    """The rows of a run file, typed (numbers as numbers, not applicable as NaN) and checked (check_rows,
    against the suite in the settings beside it). A torn last row (a run killed mid-write) and repeated keys
    are dropped with a warning naming the file and line, so nothing is counted twice; a foreign file or an
    impossible row is refused, naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a suite run (not UTF-8 text: {error})") from error
    if text and not text.endswith("\n"):
        torn = text.count("\n") + 1
        warnings.warn(f"{path}:{torn}: torn last row (the run was killed mid-write) is ignored; rerun the suite to finish it")
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    if not rows or rows[0] != RUN_COLUMNS:
        header = rows[0][:6] if rows else "(empty file)"
        raise ValueError(f"{path}:1: not a suite run: columns {header}..., expected {RUN_COLUMNS[:6]}...")
    frame = parse_run_rows(rows[1:], path)
    check_rows(frame, path, suite_of_run(path))
    return drop_repeated(frame, f"{path}: lines", [i + 2 for i in range(len(frame))])


def drop_repeated(frame: pd.DataFrame, where: str, lines: list) -> pd.DataFrame:
    """Rows whose key (RUN_KEY) an earlier row has are dropped with a warning naming them (lines[i] names
    row i)."""
    keys = pd.Series([row_key(*values) for values in frame[list(RUN_KEY)].itertuples(index=False)], dtype=object)
    repeated = keys.duplicated(keep="first").to_numpy()
    if repeated.any():
        named = ", ".join(str(lines[i]) for i in np.flatnonzero(repeated)[:5])
        warnings.warn(f"{where} {named}{'...' if repeated.sum() > 5 else ''}: {int(repeated.sum())} rows repeat an "
                      "earlier row's model, certifier, sigma and image; each is counted once")
        frame = frame[~repeated].reset_index(drop=True)
    return frame


def shard_of(path: Path) -> tuple[int, int] | None:
    """(rank, K) of a rank file <run-id>.rank<r>-of-<K>.tsv; None for a single-process run file."""
    match = re.search(r"\.rank(\d+)-of-(\d+)\.tsv$", path.name)
    return (int(match[1]), int(match[2])) if match else None


def read_runs(runs_dir: Path) -> pd.DataFrame:
    """Every run under runs_dir, with a `run` column (<suite>/<run-id>; the rank files of one run share it)
    and `n_max`, the suite's n (what a sequential run's rows may use at most).
    Each (run, model, certifier, sigma, image) is counted once: rows repeated across the files of one run
    (rank files of two process counts, or a single-process file beside rank files) are dropped with a warning
    naming the files. Files without a row yet are skipped with a warning."""
    files = run_files(runs_dir)
    if not files:
        raise FileNotFoundError(f"no runs under {runs_dir}; run `smoothbench run` first")
    frames = []
    for label, group in itertools.groupby(files, key=run_label):
        group = list(group)
        counts = {shard_of(f)[1] if shard_of(f) else 1 for f in group}
        if len(counts) > 1:
            warnings.warn(f"{label}: files of {len(counts)} process counts ({', '.join(f.name for f in group)}); rows "
                          "repeated between them are counted once: remove the files of the abandoned attempt")
        parts = [(f, read_run(f)) for f in group]
        parts = [(f, frame) for f, frame in parts if len(frame) or warnings.warn(f"{f}: no rows yet; skipped")]
        if not parts:
            continue
        frame = pd.concat([frame for _, frame in parts], ignore_index=True)
        where = [f"{f.name} (image {idx})" for f, part in parts for idx in part["idx"]]
        suite = suite_of_run(group[0])
        n_max = suite.n if suite is not None else frame["n"].max()  # a sequential run's rows hold what they used
        frames.append(drop_repeated(frame, f"{label}: rows of", where).assign(run=label, n_max=n_max))
    if not frames:
        raise FileNotFoundError(f"no run under {runs_dir} holds a row yet; run `smoothbench run` first")
    return pd.concat(frames, ignore_index=True)
