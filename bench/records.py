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
import math
import warnings
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pandas as pd

CERTIFY_COLUMNS = ["idx", "label", "predict", "radius", "correct", "time"]  # the reference's certify log
PREDICT_COLUMNS = ["idx", "label", "predict", "correct", "time"]  # the reference's predict log
RUN_COLUMNS = ["suite", "dataset", "model", "train_sigma", "certifier", "sigma", "idx", "label", "predict",
               "radius", "correct", "n0", "n", "alpha", "seconds", "device", "precision", "channels_last", "compile",
               "batch", "seed", "code_version"]
RUN_KEY = ("model", "certifier", "sigma", "idx")  # one row per key; a resumed run skips the keys it has
TEXT_COLUMNS = ("suite", "dataset", "model", "certifier", "device", "precision", "code_version")
RADIUS_DIGITS = 6


def format_radius(radius: float, digits: int = 3) -> str:
    """The radius to `digits` significant digits, rounded down (in exact decimal arithmetic, so also for
    subnormal radii), so a printed radius never exceeds the certified one."""
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
    return repr(value) if isinstance(value, float) else str(value)


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


def read_run(path: str | Path) -> pd.DataFrame:
    """The rows of a run file, typed (numbers as numbers, not applicable as NaN). A torn last row (a run
    killed mid-write) and repeated keys are dropped with a warning naming the file and line, so nothing
    is counted twice; a foreign file is refused."""
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
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(RUN_COLUMNS):
            raise ValueError(f"{path}:{number}: {len(row)} fields, expected {len(RUN_COLUMNS)}")
    frame = pd.DataFrame(rows[1:], columns=RUN_COLUMNS)
    for column in RUN_COLUMNS:
        if column not in TEXT_COLUMNS:
            try:
                parsed = pd.to_numeric(frame[column].replace("", float("nan")), errors="raise")
                # Floats again with Python's float(), which reads a round-trip repr exactly; pandas 2's
                # to_numeric does not ("0.30000000000000004" -> 0.3).
                if parsed.dtype.kind == "f":
                    parsed = frame[column].map(lambda text: float(text) if text else float("nan")).astype(float)
                frame[column] = parsed
            except ValueError as error:
                raise ValueError(f"{path}: column {column} holds a value that is not a number ({error})") from error
    keys = pd.Series([key_of_fields(row) for row in rows[1:]], dtype=object)
    repeated = keys.duplicated(keep="first").to_numpy()
    if repeated.any():
        lines = ", ".join(str(i + 2) for i in frame.index[repeated][:5])
        warnings.warn(f"{path}: lines {lines}{'...' if repeated.sum() > 5 else ''}: {int(repeated.sum())} rows repeat "
                      "an earlier row's model, certifier, sigma and image; each is counted once")
        frame = frame[~repeated].reset_index(drop=True)
    return frame


def read_runs(runs_dir: Path) -> pd.DataFrame:
    """Every run under runs_dir, with a `run` column (<suite>/<run-id>); rank files of one run share it."""
    files = run_files(runs_dir)
    if not files:
        raise FileNotFoundError(f"no runs under {runs_dir}; run `smoothbench run` first")
    return pd.concat([read_run(f).assign(run=run_label(f)) for f in files], ignore_index=True)
