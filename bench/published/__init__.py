"""Published per-image certify logs (the locuslab format: idx, label, predict, radius, correct, time) as data.

One module per source (cohen2019, salman2019, jeong2020) registers a `Source`: the paper, its repository and
commit, the certification settings its README documents, and `describe(path)`, which reads a released file's
path (the path encodes the training recipe) into what the entry is, or says why the file is not a certify log.
`import_published(root)` reads every file of every source under `root`, checks every row, keeps one copy of
files with identical rows, and returns the entries and their rows; `write_published` commits them under
results/reference/published/ so that reports build without the released folders: of a log over more than
its dataset's standard benchmark images (bench.benchmarks) only those images' rows are kept (the entry says
so: images and index_set as released, stored and stored_index_set as kept).

A log prints radius = sigma PhiInv(pA_lower) rounded to nearest at 3 significant digits, so the printed value
may sit up to half a unit above the computed one. Wherever a computation needs pA from a printed radius, the
radius is first lowered by one unit in its last digit (radius_floor); Phi(radius_floor / sigma) is then at
most the pA_lower the authors computed, a conservative stand-in for it.
"""
from __future__ import annotations

import argparse
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm
from tabulate import tabulate

from bench.benchmarks import standard_benchmark
from bench.report.tables import read_certify_log
from smoothing.registry import Registry

PRINTED_DIGITS = 3  # significant digits of a printed radius ("{:.3}" in the reference's certify.py)
STORE = Path("reference") / "published"  # under a results folder
ENTRIES_FILE, ROWS_FILE = "entries.csv.xz", "rows.csv.xz"  # xz: 1,500 logs in under 3 MB
ROW_COLUMNS = ["log", "idx", "label", "predict", "radius"]  # correct = (predict == label), checked on import
TEXT_FIELDS = ["variant", "group", "extra_data"]  # of an Entry, optional text
DUPLICATE = "duplicate of "  # status of a file whose rows (times aside) another imported file holds


def radius_floor(radius, digits=PRINTED_DIGITS) -> np.ndarray:
    """A printed radius lowered by one unit in its last significant digit, of `digits` printed (the log's
    format; 0 stays 0, never below 0)."""
    radius = np.asarray(radius, dtype=float)
    positive = radius > 0
    exponent = np.floor(np.log10(np.where(positive, radius, 1.0)))
    unit = np.where(positive, 10.0 ** (exponent - (np.asarray(digits) - 1)), 0.0)
    return np.maximum(radius - unit, 0.0)


def p_a_from_radius(radius, sigma, predict, digits=PRINTED_DIGITS) -> np.ndarray:
    """pA_lower recovered from a printed radius: Phi(radius_floor / sigma) where the log predicts, 1/2 where it
    abstains (predict -1: all the log tells is pA_lower < 1/2; 1/2 is the hardest pA to settle)."""
    p_a = norm.cdf(radius_floor(radius, digits) / np.asarray(sigma, dtype=float))
    return np.where(np.asarray(predict) >= 0, p_a, 0.5)


def significant_digits(values) -> int:
    """The most significant digits among printed numbers (a log's format prints them all alike; trailing
    zeros it drops only make a value look shorter)."""
    def digits(value: float) -> int:
        text = np.format_float_positional(value, trim="-").replace(".", "").replace("-", "").lstrip("0")
        return len(text)

    return max((digits(float(v)) for v in values if v > 0), default=PRINTED_DIGITS)


@dataclass
class Entry:
    """What one released certify log is, as its source documents it (train_sigma NaN: not smoothing-trained)."""

    method: str  # the training method, e.g. "Gaussian augmentation", "SmoothAdv", "MACER"
    dataset: str
    arch: str
    train_sigma: float
    sigma: float
    variant: str = ""  # the method's hyper-parameters, as the path gives them
    group: str = ""  # the source's own grouping (e.g. SmoothAdv's "best_models/ours")
    extra_data: str = ""  # "" or what beyond the dataset's training set it used
    split: str = "test"


@dataclass
class Source:
    """A paper's released logs: where they come from and how to read a file's path."""

    name: str  # the folder under the reference root, e.g. "salman2019"
    paper: str
    repository: str
    commit: str
    describe: Callable[[str], Entry | str]  # relative path -> Entry, or the reason it is not imported
    n0: int = 100
    n: int = 100_000
    alpha: float = 0.001
    skip_files: tuple[str, ...] = field(default=("README.md",))


SOURCES: Registry[Source] = Registry("published source", "bench.published")
register_source = SOURCES.register


def source_names() -> list[str]:
    return SOURCES.names()


def number(pattern: str, text: str, default: float = float("nan")) -> float:
    """The number a regular expression's first group captures in text (default where it does not match)."""
    match = re.search(pattern, text)
    return float(match.group(1)) if match else default


def index_set(idx: pd.Series) -> str:
    """'every 20th from 0 (500)' for an arithmetic index set, else 'irregular (N)'."""
    values = np.sort(idx.to_numpy())
    steps = np.unique(np.diff(values))
    if len(values) > 1 and len(steps) == 1:
        return f"every {int(steps[0])}th from {int(values[0])} ({len(values)})"
    return f"irregular ({len(values)})" if len(values) > 1 else f"index {int(values[0])} (1)"


def _files(root: Path, source: Source) -> Iterator[tuple[str, Path]]:
    folder = root / source.name
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no released logs of {source.name}; give the folder holding {source.name}/")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        yield path.relative_to(folder).as_posix(), path


def import_published(root: Path, sources: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every file of every source under `root`: the entries frame (one row per file: status imported,
    duplicate or skipped with the reason) and the rows of the imported ones (ROW_COLUMNS). A row whose correct
    is not predict == label, a negative radius or a radius on an abstention is refused with its file and line."""
    entries, rows, seen = [], [], {}
    for name in sources or source_names():
        source = SOURCES.create(name)
        for relative, path in _files(root, source):
            record = dict(source=name, file=relative, n0=source.n0, n=source.n, alpha=source.alpha)
            if relative in source.skip_files:
                continue
            described = source.describe(relative)
            if isinstance(described, str):
                entries.append(dict(record, status=f"skipped: {described}"))
                continue
            record.update(asdict(described))
            log = read_certify_log(path)
            if log.empty:
                entries.append(dict(record, status="skipped: no rows (an empty log)"))
                continue
            _check(log, path)
            digest = hashlib.sha256(log[ROW_COLUMNS[1:]].to_csv(index=False).encode()).hexdigest()  # rows, not times
            record.update(images=len(log), index_set=index_set(log["idx"]),
                          printed_digits=significant_digits(log["radius"]), rows_sha256=digest)
            kept = stored_rows(log, described.dataset)
            record.update(stored=len(kept), stored_index_set=index_set(kept["idx"]))
            if digest in seen:
                entries.append(dict(record, status=DUPLICATE + seen[digest]))
                continue
            seen[digest] = f"{name}/{relative}"
            number_ = len([e for e in entries if e["status"] == "imported"])
            entries.append(dict(record, status="imported", log=number_))
            rows.append(kept.assign(log=number_)[ROW_COLUMNS])
    frame = pd.DataFrame(entries)
    frame["log"] = frame["log"].astype("Int64")
    return frame, pd.concat(rows, ignore_index=True)


def stored_rows(log: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The rows committed of a log: those on its dataset's standard benchmark images where the log holds them
    all and more (the 10,000-image logs: every 20th image is kept), else every row."""
    benchmark = standard_benchmark(dataset)
    if benchmark is None:
        return log
    on_benchmark = log["idx"].isin(benchmark.indices())
    return log[on_benchmark] if on_benchmark.sum() == len(benchmark.indices()) else log


def _check(log: pd.DataFrame, path: Path) -> None:
    """Every row possible: correct == (predict == label), radius >= 0, abstentions with radius 0."""
    bad = ((log["correct"] != (log["predict"] == log["label"]).astype(int)) | ~(log["radius"] >= 0)
           | ((log["predict"] < 0) & (log["radius"] != 0)))
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise ValueError(f"{path}:{line}: impossible row (correct must be predict == label, radius >= 0, "
                         "0 on an abstention)")


def write_published(entries: pd.DataFrame, rows: pd.DataFrame, results: Path) -> list[Path]:
    """The entries and rows (xz-compressed CSV) under results/reference/published/."""
    folder = results / STORE
    folder.mkdir(parents=True, exist_ok=True)
    for frame, name in ((entries, ENTRIES_FILE), (rows, ROWS_FILE)):
        frame.to_csv(folder / name, index=False, compression={"method": "xz", "preset": 9})
    return [folder / ENTRIES_FILE, folder / ROWS_FILE]


def read_published(results: Path) -> pd.DataFrame:
    """The committed rows of every imported log joined with its entry (one row per (log, image)), correct
    derived: the published rows as a tidy frame."""
    folder = results / STORE
    if not (folder / ENTRIES_FILE).is_file():
        raise FileNotFoundError(f"{folder / ENTRIES_FILE}: no published entries; run smoothbench import-published")
    entries = pd.read_csv(folder / ENTRIES_FILE, keep_default_na=False, na_values=[""],
                          dtype={field: str for field in TEXT_FIELDS})
    entries[TEXT_FIELDS] = entries[TEXT_FIELDS].fillna("")  # "" where the source names no variant, group, extra data
    rows = pd.read_csv(folder / ROWS_FILE)
    imported = entries[entries["status"] == "imported"].astype({"log": int})
    merged = rows.merge(imported, on="log", how="left", validate="many_to_one")
    return merged.assign(correct=(merged["predict"] == merged["label"]).astype(int))


def import_summary(entries: pd.DataFrame) -> pd.DataFrame:
    """Files per source and status (imported, duplicate, each reason to skip), and imported logs per method."""
    status = entries["status"].str.replace(r"^duplicate of .*", "duplicate", regex=True)
    files = entries.assign(status=status).groupby(["source", "status"]).size().rename("files").reset_index()
    imported = entries[entries["status"] == "imported"]
    methods = imported.groupby(["source", "dataset", "method"]).size().rename("files").reset_index()
    return pd.concat([files, methods.assign(status="imported: " + methods["dataset"] + ", " + methods["method"])
                      .drop(columns=["dataset", "method"])], ignore_index=True)


def import_published_command(args: argparse.Namespace) -> None:
    entries, rows = import_published(Path(args.root), args.sources)
    written = write_published(entries, rows, Path(args.results))
    print(tabulate(import_summary(entries), headers="keys", tablefmt="github", showindex=False))
    print(f"{len(rows):,} rows of {int((entries['status'] == 'imported').sum())} logs; wrote "
          + ", ".join(str(path) for path in written))


def add_commands(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("import-published",
                                  help="import every released certify log (Cohen, SmoothAdv, consistency) as data")
    command.add_argument("root", help="the folder holding the sources' folders (e.g. ../shared/reference)")
    command.add_argument("--sources", nargs="+", choices=source_names(), help="only these sources (default: all)")
    command.add_argument("--results", default="results", help="results folder (writes reference/published/ in it)")
    command.set_defaults(handler=import_published_command)
