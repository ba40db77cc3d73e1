"""Run a suite: one CERTIFY sampling pass per (model, sigma, image) feeds every smoothing certifier;
deterministic certifiers run once per (model, image). Rows are tidy, appended and flushed one by one to
results/runs/<suite>/<run-id>.tsv; a killed run restarted with the same command resumes after the last
finished row. <run-id>.manifest.json records the environment and the suite text.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import torch
from tabulate import tabulate
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from bench.commands import add_setting_flags
from bench.records import (
    CERTIFY_COLUMNS,
    PREDICT_COLUMNS,
    RUN_COLUMNS,
    SEQUENTIAL_CERTIFY_COLUMNS,
    check_rows,
    encode_row,
    format_radius,
    impossible_rows,
    key_of_fields,
    parse_run_rows,
    read_run,
    row_key,
    run_label,
    run_path,
    shard_of,
)
from bench.report.tables import certified_accuracy, markdown_table, read_certify_log, run_accuracy_frame
from bench.suite import OVERRIDABLE, Suite, certify_suite, check_name, load_suite, scheme_name, suite_names
from bench.tsv import ResumableTSV, read_settings, settings_path
from smoothing.architectures import architecture_names
from smoothing.batch_size import auto_batch_size, cache_path
from smoothing.certifiers import create_certifier, is_smoothing
from smoothing.checkpoints import checkpoint_sha256, load_checkpoint
from smoothing.core import ABSTAIN, Smooth
from smoothing.datasets import create_dataset, dataset_info, dataset_names, selected_positions
from smoothing.devices import Shard, barrier_and_close, device_name, init_from_env, resolve_device
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
    starts at the finished count, so its rate and time left are those of this process's work."""
    pending = [(unit, todo) for unit in units if (todo := [key for key in keys(unit) if key not in out.done])]
    progress = tqdm(total=len(units), initial=len(units) - len(pending), desc=description, unit="image",
                    file=sys.stderr)
    with progress:
        for unit, todo in pending:
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
    fast_path, scheme = suite.fast_path(), suite.scheme()
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
                    if scheme:
                        grid = certification_grid(info.cell_step, sigma, suite.n, suite.alpha)
                        certificate = certify_sequential(smoothed[sigma], x, suite.n0, suite.n, suite.alpha, batch,
                                                         radii=grid, scheme=scheme)
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
    if suite.sequential is True:  # what `true` means may change with the recommendation: record the scheme
        settings["scheme"] = suite.scheme()
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
    imports, sources, scheme = [], {}, suite.scheme()
    for log in map(Path, logs):
        settings = read_settings(log)
        if not isinstance(settings, dict) or settings.get("command") != "certify":
            command = settings.get("command") if isinstance(settings, dict) else None
            raise ValueError(f"{log}: written by `smoothbench {command}`, not certify; import certify logs")
        try:
            logged = certify_suite(settings)
        except ValueError as error:
            raise ValueError(f"{settings_path(log)}: {error}") from error
        if logged.scheme() or scheme:
            raise ValueError(f"{log}: import-certify takes fixed-n certify logs into a fixed-n suite (each row's n is "
                             f"the suite's); this log's scheme is {logged.scheme() or 'fixed n'}, suite {suite.name}'s "
                             f"{scheme or 'fixed n'}; certify a sequential suite with smoothbench run")
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


# --- The commands: run (a suite), certify and predict (the reference's, as one-model suites), import-certify.

CERTIFY_FLAGS = ["split", "skip", "max", "n0", "n", "alpha", "batch", "seed", "precision", "channels_last", "compile",
                 "sequential"]
CERTIFY_ONLY = ("n0", "sequential")  # the flags predict does not take
SUMMARY_RADII = (0.0, 0.25, 0.5, 0.75, 1.0)


def run_command(args: argparse.Namespace) -> None:
    shard, device = init_from_env(resolve_device(args.device))
    overrides = {key: getattr(args, f"override_{key}") for key in OVERRIDABLE if getattr(args, f"override_{key}") is not None}
    suite = load_suite(args.suite)
    try:
        suite = suite.with_overrides(overrides)
    except ValueError as error:
        raise ValueError(f"{args.suite} with {', '.join(f'--{k} {v}' for k, v in overrides.items())}: {error}") from error
    path = run_suite(suite, Path(args.results) / "runs", args.run_id, args.data_root, device, shard)
    barrier_and_close()  # every shard has finished its rows
    if shard.rank != 0:
        return
    paths = sorted(path.parent.glob(path.name.replace(shard.suffix(), shard.suffix().replace(".rank0", ".rank*"))))
    if not paths:
        raise ValueError(f"{path} was removed before the run finished; rerun the same command to start it again")
    report_run(paths, Path(args.results))


def report_run(paths: list[Path], results: Path) -> None:
    """A run's certified accuracy, then the leaderboard and plots regenerated with it."""
    from bench.report.leaderboard import regenerate

    frame = pd.concat([read_run(p) for p in paths], ignore_index=True)
    print(f"{', '.join(map(str, paths))}: {len(frame)} rows")
    print(markdown_table(run_accuracy_frame(frame)))
    written = regenerate(results)
    print(f"leaderboard and plots regenerated: {', '.join(str(p) for p in written[:2])}, {len(written) - 2} plot files")


def import_certify_command(args: argparse.Namespace) -> None:
    path, added = import_certify_logs(load_suite(args.suite), args.logs, args.device_name, args.code_version,
                                      args.run_id, Path(args.results) / "runs", args.data_root)
    print(f"{added} rows imported")
    report_run([path], Path(args.results))


def certify_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What certify and predict record beside their log (their resume key, and import-certify's input):
    the reference's argument names, N0 and N for n0 and n."""
    settings = dict(command=args.command, dataset=args.dataset, base_classifier=args.base_classifier, sigma=args.sigma,
                    outfile=args.outfile, arch=args.arch, split=args.split, data_root=args.data_root, batch=args.batch,
                    skip=args.skip, max=args.max, N=args.n, alpha=args.alpha, seed=args.seed, precision=args.precision,
                    channels_last=args.channels_last, compile=args.compile)
    if args.command == "predict":
        return settings
    settings["N0"] = args.n0
    if args.sequential:  # recorded by name (`true` may come to mean another scheme); absent for fixed n
        settings["sequential"] = scheme_name(args.sequential)
    return settings


def evaluate_log_command(args: argparse.Namespace) -> None:
    """certify and predict: the reference's commands as the one-model suite they are, through the runner's
    per-image loop (select, resume, seed, evaluate each input, write its row in the reference's columns)."""
    settings = certify_settings(args)
    suite = certify_suite(settings)  # validates every argument before anything is loaded or written
    if Path(args.outfile).resolve() == Path(args.base_classifier).resolve():
        raise ValueError(f"the output file {args.outfile} is the checkpoint itself; give another output file")
    settings["checkpoint_sha256"] = checkpoint_sha256(args.base_classifier)  # a replaced checkpoint never resumes
    device = resolve_device(args.device)
    info = dataset_info(args.dataset)
    spec = suite.model_specs()[0]
    model, _ = load_checkpoint(spec.checkpoint, spec.dataset, spec.arch, device)
    smoothed = Smooth(model, info.num_classes, args.sigma, fast_path=suite.fast_path(), input_shape=info.input_shape)
    batch = suite.batch
    if batch == "auto":
        batch = auto_batch_size(model, info.input_shape, suite.fast_path())
        print(f"batch size: {batch} (auto, cached in {cache_path()})", file=sys.stderr)
    certifying, scheme = args.command == "certify", suite.scheme()
    grid = certification_grid(info.cell_step, args.sigma, args.n, args.alpha) if scheme else ()

    def evaluate(x: torch.Tensor) -> tuple[list, list]:
        """The row's fields after the label, and those after the time (the samples a sequential scheme used)."""
        if scheme:
            certificate = certify_sequential(smoothed, x, args.n0, args.n, args.alpha, batch, radii=grid, scheme=scheme)
            return [certificate.prediction, format_radius(certificate.radius)], [certificate.n]
        if certifying:
            prediction, radius = smoothed.certify(x, args.n0, args.n, args.alpha, batch)
            return [prediction, format_radius(radius)], []
        return [smoothed.predict(x, args.n, args.alpha, batch)], []

    dataset = create_dataset(args.dataset, args.split, args.data_root)
    columns = SEQUENTIAL_CERTIFY_COLUMNS if scheme else CERTIFY_COLUMNS if certifying else PREDICT_COLUMNS
    with ResumableTSV(args.outfile, columns, settings, args.overwrite) as out:
        for (position, idx), _ in pending_units(selected_images(dataset, suite.skip, suite.max), out,
                                                lambda image: [image[1]], args.command):
            x, label = dataset[position]
            if args.seed is not None:
                smoothed.manual_seed(image_seed(args.seed, idx))
            started = time.perf_counter()
            (prediction, *rest), after = evaluate(x)
            seconds = time.perf_counter() - started
            out.write([idx, label, prediction, *rest, int(prediction == label), f"{seconds:.4f}", *after])
    if certifying:
        print(certified_accuracy_summary(args.outfile))


def certified_accuracy_summary(path: str | Path, radii: tuple[float, ...] = SUMMARY_RADII) -> str:
    rows = read_certify_log(path)
    table = tabulate([certified_accuracy(rows, radii)], headers=[f"r = {r}" for r in radii], floatfmt=".3f",
                     tablefmt="github")
    abstained = int((rows["predict"] == ABSTAIN).sum())
    return f"{path}: {len(rows)} images, {abstained} abstentions; certified accuracy\n{table}"


def add_commands(commands: argparse._SubParsersAction) -> None:
    for name, help_text in (("certify", "CERTIFY (Cohen et al. Algorithm 2) each selected input"),
                            ("predict", "PREDICT (Cohen et al. Algorithm 1) each selected input")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("dataset", choices=dataset_names(), help="which dataset")
        command.add_argument("base_classifier", help="checkpoint of the base classifier (checkpoint.pth.tar)")
        command.add_argument("sigma", type=float, help="noise level sigma of the smoothed classifier")
        command.add_argument("outfile", help="output TSV file")
        command.add_argument("--arch", choices=architecture_names(), help="if the checkpoint does not name one")
        command.add_argument("--data-root", help="data folder (default: $SMOOTHBENCH_DATA, $IMAGENET_DIR)")
        command.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:K")
        command.add_argument("--overwrite", action="store_true", help="start again instead of resuming outfile")
        add_setting_flags(command, [flag for flag in CERTIFY_FLAGS if name == "certify" or flag not in CERTIFY_ONLY],
                          defaults=dict(seed=None))  # the reference draws unseeded noise unless told
        command.set_defaults(handler=evaluate_log_command)

    run = commands.add_parser("run", help="run (or resume) a benchmark suite; default: the quick embedded suite")
    run.add_argument("suite", nargs="?", default="quick", help=f"suite name ({', '.join(suite_names())}) or TOML file")
    run.add_argument("--results", default="results",
                     help="results folder: rows go to RESULTS/runs/<suite>/<run-id>.tsv, the leaderboard to RESULTS/")
    run.add_argument("--run-id", help="default: <device type>-<precision>[-<key><value> per other override]")
    run.add_argument("--data-root")
    run.add_argument("--device", default="auto")
    add_setting_flags(run, OVERRIDABLE, overrides=True)
    run.set_defaults(handler=run_command)

    imported = commands.add_parser(
        "import-certify", help="certify logs written elsewhere (e.g. on a GPU machine) as a run of a suite whose "
        "settings, models (by checkpoint sha256) and sigmas they match")
    imported.add_argument("suite", help=f"suite name ({', '.join(suite_names())}) or TOML file")
    imported.add_argument("logs", nargs="+", help="certify logs, each with its .settings.json beside it")
    imported.add_argument("--device-name", required=True, help='the machine that certified, e.g. "NVIDIA H100 80GB HBM3"')
    imported.add_argument("--code-version", required=True, help="the commit of smoothbench that certified")
    imported.add_argument("--run-id", required=True, help="rows go to RESULTS/runs/<suite>/<run-id>.tsv")
    imported.add_argument("--results", default="results")
    imported.add_argument("--data-root", help="the suite's data, to check each row's image and label")
    imported.set_defaults(handler=import_certify_command)
