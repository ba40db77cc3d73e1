"""Run a suite: one CERTIFY sampling pass per (model, sigma, image) feeds every smoothing certifier;
deterministic certifiers run once per (model, image). Rows are tidy, appended and flushed one by one to
results/runs/<suite>/<run-id>.tsv; a killed run restarted with the same command resumes after the last
finished row. <run-id>.manifest.json records the environment and the suite text.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pandas as pd
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from bench.records import (
    RUN_COLUMNS,
    check_rows,
    encode_row,
    impossible_rows,
    key_of_fields,
    parse_run_rows,
    row_key,
    run_label,
    run_path,
    shard_of,
)
from bench.report.tables import read_certify_log
from bench.suite import Suite, certify_suite, check_name
from bench.tsv import ResumableTSV, read_settings, settings_path
from smoothing.batch_size import auto_batch_size
from smoothing.certifiers import create_certifier, is_smoothing
from smoothing.checkpoints import checkpoint_sha256, load_checkpoint
from smoothing.core import Smooth
from smoothing.datasets import create_dataset, dataset_info, selected_positions
from smoothing.devices import Shard, device_name, resolve_device
from smoothing.sampler import image_seed
from smoothing.sequential import certification_grid, certify_sequential

U = TypeVar("U")


def code_version() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def manifest(suite: Suite, device: torch.device, version: str) -> dict:
    return dict(
        suite=suite.name, suite_text=suite.text, started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        python=platform.python_version(), platform=platform.platform(), torch=torch.__version__,
        cuda=torch.version.cuda, device=device_name(device), code_version=version, overrides=suite.overrides,
    )


def selected_images(data: Dataset, skip: int, maximum: int) -> list[tuple[int, int]]:
    """(position in the dataset, official index) of every image a run selects (the reference's skip/max)."""
    indices = getattr(data, "indices", None)  # official indices, where the dataset is a subset
    return [(p, int(indices[p]) if indices is not None else p) for p in selected_positions(len(data), skip, maximum)]


def label_of(data: Dataset, position: int) -> int:
    """The label of the image at `position`, from the dataset's label array where it keeps one (no decoding)."""
    labels = getattr(data, "labels", getattr(data, "targets", None))
    return int(labels[position]) if labels is not None else int(data[position][1])


def pending_units(units: Sequence[U], out: ResumableTSV, keys: Callable[[U], list[Hashable]], description: str
                  ) -> Iterator[tuple[U, list[Hashable]]]:
    """The resumable per-image loop of every command (certify, predict, run, sequential-savings): each unit
    of work with the keys of its rows not yet in `out`, skipping finished units, under a progress bar that
    counts them as done."""
    progress = tqdm(total=len(units), desc=description, unit="image", file=sys.stderr)
    with progress:
        for unit in units:
            todo = [key for key in keys(unit) if key not in out.done]
            if todo:
                yield unit, todo
            progress.update()


def run_suite(suite: Suite, results_dir: str | Path = "results/runs", run_id: str | None = None,
              data_root: str | None = None, device: str | torch.device = "auto", shard: Shard = Shard()) -> Path:
    """Run (or resume) `suite`, or this process's shard of it; returns the path of its TSV."""
    torch_device = resolve_device(device)
    run_id = check_name("run id", run_id or suite.default_run_id(torch_device))
    specs = suite.model_specs()
    # The weights' fingerprints: a checkpoint replaced at the same path never resumes into these rows.
    checkpoints = {spec.name: checkpoint_sha256(spec.checkpoint) for spec in specs}
    version = code_version()
    data = create_dataset(suite.dataset, suite.split, data_root)
    info = dataset_info(suite.dataset)
    images = selected_images(data, suite.skip, suite.max)
    fast_path = suite.fast_path()
    common = _common_fields(suite, device_name(torch_device), version)
    path = run_path(results_dir, suite.name, run_id, shard.suffix())
    _check_process_count(path, run_id, shard)
    start = (lambda: _write_manifest(path, run_id, manifest(suite, torch_device, version))) if shard.rank == 0 else None
    with ResumableTSV(path, RUN_COLUMNS, _run_settings(suite, run_id, checkpoints), key=key_of_fields,
                      check=lambda rows: check_rows(parse_run_rows(rows, path), path, suite), on_start=start) as out:
        for model_entry, spec in zip(suite.models, specs):
            model, _ = load_checkpoint(spec.checkpoint, spec.dataset, spec.arch, torch_device)
            certifiers = [create_certifier(name) for name in suite.certifiers_of(model_entry)]
            smoothing = [c for c in certifiers if is_smoothing(c)]
            deterministic = [c for c in certifiers if not is_smoothing(c)]
            for certifier in deterministic:
                certifier.prepare(model, info.input_shape)
            batch = auto_batch_size(model, info.input_shape, fast_path) if suite.batch == "auto" else suite.batch
            sigmas = model_entry.get("sigmas", []) if smoothing else []
            smoothed = {sigma: Smooth(model, info.num_classes, sigma, fast_path=fast_path, input_shape=info.input_shape)
                        for sigma in sigmas}
            # One unit per (image, sigma), or per image for a model with deterministic certifiers only; a
            # deterministic certifier's row belongs to the image's first unit (one owner per shard set).
            units = [(position, idx, sigma) for i, ((position, idx), sigma) in enumerate(
                (image, sigma) for image in images for sigma in (sigmas or [None])) if shard.owns(i)]

            def keys(unit: tuple[int, int, float | None]) -> list[Hashable]:
                _, idx, sigma = unit
                first = sigma == (sigmas or [None])[0]
                return ([row_key(spec.name, c.name, sigma, idx) for c in smoothing if sigma is not None]
                        + [row_key(spec.name, c.name, None, idx) for c in deterministic if first])

            for (position, idx, sigma), todo_keys in pending_units(units, out, keys, f"{suite.name}: {spec.name}"):
                names = {key[1] for key in todo_keys}
                todo = [c for c in smoothing if c.name in names and sigma is not None]
                todo_deterministic = [c for c in deterministic if c.name in names]
                row = dict(common, model=spec.name, train_sigma=spec.train_sigma, idx=idx, batch=batch)
                x, label = data[position]
                row["label"] = label
                if todo:
                    smoothed[sigma].manual_seed(image_seed(suite.seed, idx))
                    if suite.scheme():
                        grid = certification_grid(info.cell_step, sigma, suite.n, suite.alpha)
                        certificate = certify_sequential(smoothed[sigma], x, suite.n0, suite.n, suite.alpha, batch,
                                                         radii=grid, scheme=suite.scheme())
                    else:
                        certificate = smoothed[sigma].certify_batch(
                            x[None], suite.n0, suite.n, suite.alpha, batch,
                            score_sums=any(c.needs_scores for c in todo))[0]
                    row["n"] = certificate.n  # fewer than suite.n when a sequential run stopped early
                    for certifier in todo:
                        prediction, radius = certifier(certificate)
                        out.write(_row(row, certifier.name, sigma, prediction, radius, certificate.seconds))
                for certifier in todo_deterministic:
                    started = time.perf_counter()
                    prediction, radius = certifier(x.to(torch_device))
                    seconds = time.perf_counter() - started
                    out.write(_row(dict(row, n0=None, n=None, alpha=None, batch=None), certifier.name, None, prediction,
                                   radius, seconds))
    return path


def _common_fields(suite: Suite, device: str, version: str) -> dict:
    """The fields every row of a run shares: the suite's settings, the machine and the code."""
    return dict(suite=suite.name, dataset=suite.dataset, n0=suite.n0, n=suite.n, alpha=suite.alpha, device=device,
                precision=suite.precision, channels_last=int(suite.channels_last), compile=int(suite.compile),
                seed=suite.seed, code_version=version)


def _write_manifest(run_file: Path, run_id: str, fields: dict) -> None:
    """<run-id>.manifest.json beside the run file, written when the run file is started (at its first row)."""
    (run_file.parent / f"{run_id}.manifest.json").write_text(json.dumps(fields, indent=2) + "\n")


def _check_process_count(path: Path, run_id: str, shard: Shard) -> None:
    """A run is resumed by as many processes as started it: rank r of K owns every K-th unit, so files of
    another K would hold the same images twice. Refuse files of the run id written with another count."""
    others = [f for f in sorted(path.parent.glob(f"{run_id}*.tsv")) if run_label(f) == run_label(path)
              and (shard_of(f) or (0, 1))[1] != shard.world]
    if others:
        started = (shard_of(others[0]) or (0, 1))[1]
        raise ValueError(f"{others[0]} exists: run {run_id} was started with {started} process(es), this is "
                         f"{shard.world}; resume it with {started} (torchrun --nproc-per-node {started}, or no torchrun "
                         "for 1), or start another run with --run-id")


def _run_settings(suite: Suite, run_id: str, checkpoints: dict[str, str]) -> dict:
    """What a run file's rows depend on: a run resumes only with these unchanged."""
    settings = {"suite_text": suite.text, "run_id": run_id, "checkpoint_sha256": checkpoints}
    if suite.overrides:
        settings["overrides"] = suite.overrides
    return settings


SETTINGS_OF_A_CERTIFY_LOG = ("dataset", "split", "skip", "max", "n0", "n", "alpha", "batch", "precision",
                             "channels_last", "compile", "seed")  # the suite keys a certify log must share


def import_certify_logs(suite: Suite, logs: Sequence[str | Path], device: str, version: str, run_id: str,
                        results_dir: str | Path = "results/runs", data_root: str | None = None) -> tuple[Path, int]:
    """`smoothbench certify` logs (e.g. written on a GPU machine) as a run of `suite`, the rows `run_suite`
    writes for the gaussian certifier: each log's settings must be the suite's (SETTINGS_OF_A_CERTIFY_LOG,
    with a seed), its checkpoint (by sha256) one of the suite's models and its sigma one of that model's, one
    log per model and sigma; every row must be possible (records.impossible_rows: a radius n samples can
    certify, abstentions without radius and not correct) and be one of the suite's images with the dataset's
    label (read from `data_root`). Radii are the log's, rounded down to 3 digits. `device` and `version` name
    the machine and code that wrote the logs. Resumable like a run (present rows are kept, a later `run` fills
    in what is missing); returns the run file and the number of rows added."""
    check_name("run id", run_id)
    specs = {checkpoint_sha256(spec.checkpoint): (entry, spec) for entry, spec in zip(suite.models, suite.model_specs())}
    checkpoints = {spec.name: sha for sha, (_, spec) in specs.items()}
    data = create_dataset(suite.dataset, suite.split, data_root)
    labels = {idx: label_of(data, position) for position, idx in selected_images(data, suite.skip, suite.max)}
    common = dict(_common_fields(suite, device, version), batch=suite.batch)
    imports, sources = [], {}
    for log in map(Path, logs):
        settings = read_settings(log)
        if not isinstance(settings, dict) or settings.get("command") != "certify":
            command = settings.get("command") if isinstance(settings, dict) else None
            raise ValueError(f"{log}: written by `smoothbench {command}`, not certify; import certify logs")
        try:
            logged = certify_suite(settings)
        except ValueError as error:
            raise ValueError(f"{settings_path(log)}: {error}") from error
        logged_values = {key: getattr(logged, key) for key in SETTINGS_OF_A_CERTIFY_LOG}
        logged_values["seed"] = settings["seed"]  # None: no per-image seed, so not the suite's noise
        differ = [key for key, value in logged_values.items() if value != getattr(suite, key)]
        if differ:
            raise ValueError(f"{log}: certified with {', '.join(f'{k} = {logged_values[k]!r}' for k in differ)}, "
                             f"suite {suite.name} has {', '.join(f'{k} = {getattr(suite, k)!r}' for k in differ)}; "
                             "import only logs certified with the suite's settings")
        if settings["checkpoint_sha256"] not in specs:
            raise ValueError(f"{log}: its checkpoint {settings['base_classifier']} (sha256 {settings['checkpoint_sha256']})"
                             f" is none of suite {suite.name}'s models; register it and name it in the suite")
        entry, spec = specs[settings["checkpoint_sha256"]]
        if settings["sigma"] not in entry.get("sigmas", []) or "gaussian" not in suite.certifiers_of(entry):
            raise ValueError(f"{log}: sigma {settings['sigma']} with the gaussian certifier is not in suite "
                             f"{suite.name} for {spec.name} (sigmas {entry.get('sigmas', [])})")
        if (spec.name, settings["sigma"]) in sources:
            raise ValueError(f"{log} and {sources[spec.name, settings['sigma']]} both hold {spec.name} at sigma "
                             f"{settings['sigma']}; import one of them")
        sources[spec.name, settings["sigma"]] = log
        rows = read_certify_log(log)
        _check_log_rows(rows, log, dict(common, model=spec.name, train_sigma=spec.train_sigma, sigma=settings["sigma"],
                                        certifier="gaussian"), labels, suite)
        imports.append((spec, settings["sigma"], rows))
    path = run_path(results_dir, suite.name, run_id)
    added = 0
    imported = dict(suite=suite.name, suite_text=suite.text, imported=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    device=device, code_version=version, imported_from=[str(log) for log in logs])
    with ResumableTSV(path, RUN_COLUMNS, _run_settings(suite, run_id, checkpoints), key=key_of_fields,
                      check=lambda rows: check_rows(parse_run_rows(rows, path), path, suite),
                      on_start=lambda: _write_manifest(path, run_id, imported)) as out:
        for spec, sigma, rows in imports:
            for row in rows.itertuples():
                if row_key(spec.name, "gaussian", sigma, row.idx) in out.done:
                    continue
                radius = Decimal(repr(row.radius))  # the log's decimal text, never rounded below it
                out.write(_row(dict(common, model=spec.name, train_sigma=spec.train_sigma, idx=row.idx, label=row.label),
                               "gaussian", sigma, row.predict, radius, row.seconds))
                added += 1
    return path, added


def _check_log_rows(rows: pd.DataFrame, log: Path, fields: dict, labels: dict[int, int], suite: Suite) -> None:
    """Refuse a certify log's first row that is impossible (records.impossible_rows, with the log's own
    `correct`) or not one of the suite's images with the dataset's label, naming the log and line."""
    frame = pd.DataFrame([{**fields, "idx": row.idx, "label": row.label, "predict": row.predict, "radius": row.radius,
                           "correct": row.correct} for row in rows.itertuples()], columns=[*fields, *rows.columns])
    why = impossible_rows(frame) if len(frame) else pd.Series(dtype=str)
    for line, (row, problem) in enumerate(zip(rows.itertuples(), why), start=2):
        if problem:
            raise ValueError(f"{log}:{line}: impossible row: {problem}; a certify log holds only what CERTIFY returns")
        if row.idx not in labels:
            raise ValueError(f"{log}:{line}: image {row.idx} is not one suite {suite.name} certifies ({suite.dataset} "
                             f"{suite.split}, skip {suite.skip}, max {suite.max}); import logs of the suite's images")
        if row.label != labels[row.idx]:
            raise ValueError(f"{log}:{line}: image {row.idx} has label {labels[row.idx]} in {suite.dataset}, the log says "
                             f"{row.label}; the log is of other data")


def _row(common: dict, certifier: str, sigma: float | None, prediction: int, radius: float, seconds: float) -> list[str]:
    return encode_row(dict(common, certifier=certifier, sigma=sigma, predict=prediction, radius=radius,
                           correct=int(prediction == common["label"]), seconds=seconds))
