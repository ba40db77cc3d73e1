"""`smoothbench`: certify, predict and train from the command line.

`certify` and `predict` take the reference's arguments (dataset, base classifier checkpoint, sigma,
output file, --batch --skip --max --N0 --N --alpha) and write its TSV columns, one flushed row per input.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from typing import NoReturn

import pandas as pd
import torch
from tabulate import tabulate

from baselines.lipschitz import LipschitzCertifier, LipschitzMarginLoss, lipschitz_report
from bench.records import CERTIFY_COLUMNS, PREDICT_COLUMNS, format_radius, read_run
from bench.report.bounds import PAPER_P_A, PAPER_SIGMAS, bounds_frame, bounds_table
from bench.report.leaderboard import PAPER_ROWS_FILE, published_certify_rows, regenerate
from bench.report.plots import plot_bounds, plot_certified_accuracy
from bench.report.tables import (
    accuracy_frame,
    certified_accuracy,
    latex_table,
    log_label,
    markdown_table,
    radius_grid,
    read_certify_log,
    run_accuracy_frame,
)
from bench.runner import import_certify_logs, pending_units, run_suite, selected_images
from bench.suite import OVERRIDABLE, Suite, certify_suite, load_suite, model_spec, suite_names
from bench.tools.audit import audit_lipschitz, audit_smoothing
from bench.tools.sequential_savings import compare, savings_summary
from bench.tools.throughput import certification_summary, peak_memory, samples_per_second, time_certification
from bench.tsv import ResumableTSV
from smoothing.architectures import architecture_names, create_architecture
from smoothing.batch_size import auto_batch_size, cache_path
from smoothing.checkpoints import checkpoint_sha256, load_checkpoint
from smoothing.core import ABSTAIN, Smooth
from smoothing.datasets import create_dataset, dataset_info, dataset_names, spread_subset
from smoothing.devices import barrier_and_close, init_from_env, resolve_device
from smoothing.sampler import PRECISIONS, FastPath, image_seed
from smoothing.sequential import scheme_names
from smoothing.training import TrainConfig, run_epoch, train_with_noise


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line (the command, the flag and what it takes) with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def batch_size_argument(text: str) -> int | str:
    """--batch: a positive integer or "auto"."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'batch size must be a positive integer or "auto", got {text!r}')
    return int(text)


def _number(kind: type, low: float, inclusive: bool, what: str):
    """An argparse type: a finite number of `kind` above `low` (or at it, when `inclusive`)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


positive_int = _number(int, 0, False, "a positive integer")
non_negative_int = _number(int, 0, True, "an integer >= 0")
positive_float = _number(float, 0.0, False, "a positive number")
non_negative_float = _number(float, 0.0, True, "a number >= 0")
MOST_RADII = 10_000  # a radius grid of table: more would take minutes and print nothing readable


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """A command's result frame as CSV at `path`, its folder created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def _stacked_images(data: torch.utils.data.Dataset, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The images at `positions` as one batch, and their labels."""
    return torch.stack([data[p][0] for p in positions]), torch.tensor([data[p][1] for p in positions])


def _add_smoothing_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=dataset_names(), help="which dataset")
    parser.add_argument("base_classifier", help="checkpoint of the base classifier (checkpoint.pth.tar)")
    parser.add_argument("sigma", type=float, help="noise level sigma of the smoothed classifier")
    parser.add_argument("outfile", help="output TSV file")
    parser.add_argument("--arch", choices=architecture_names(), help="architecture, if the checkpoint does not name one")
    parser.add_argument("--split", choices=["train", "test"], default="test")
    parser.add_argument("--data-root", help="data folder (default: $SMOOTHBENCH_DATA for cifar10, $IMAGENET_DIR for imagenet)")
    parser.add_argument("--batch", type=batch_size_argument, default=1000,
                        help='batch size, or "auto": on a GPU the largest that fits, on a CPU the fastest within memory; '
                             'found once per model and cached')
    parser.add_argument("--skip", type=int, default=1, help="take every skip-th example")
    parser.add_argument("--max", type=int, default=-1, help="stop before this example index (-1: all)")
    parser.add_argument("--N", "--n", type=positive_int, default=100_000, help="number of Monte Carlo samples")
    parser.add_argument("--alpha", type=float, default=0.001, help="failure probability")
    parser.add_argument("--seed", type=non_negative_int, help="seed the noise (per image) for a reproducible run")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:K")
    parser.add_argument("--precision", choices=list(PRECISIONS), default="fp32",
                        help="bf16/fp16 certify the reduced-precision base classifier, not the fp32 one")
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the base classifier (CUDA graphs on a GPU); batches keep one fixed shape")
    parser.add_argument("--overwrite", action="store_true", help="start again instead of resuming outfile")


def _run(args: argparse.Namespace, columns: list[str], evaluate) -> None:
    """certify and predict: the reference's commands as a one-model suite through the runner's per-image
    loop (select, resume, seed, evaluate each input, write its row)."""
    suite = certify_suite(vars(args))  # validates every argument before anything is loaded or written
    if Path(args.outfile).resolve() == Path(args.base_classifier).resolve():
        raise ValueError(f"the output file {args.outfile} is the checkpoint itself; give another output file")
    settings = {k: v for k, v in vars(args).items() if k not in ("device", "overwrite", "handler", "debug")}
    settings["checkpoint_sha256"] = checkpoint_sha256(args.base_classifier)  # a replaced checkpoint never resumes
    device = resolve_device(args.device)
    info = dataset_info(args.dataset)
    spec = model_spec(suite.models[0])
    model, _ = load_checkpoint(spec.checkpoint, spec.dataset, spec.arch, device)
    smoothed = Smooth(model, info.num_classes, args.sigma, fast_path=suite.fast_path(), input_shape=info.input_shape)
    if suite.batch == "auto":
        args.batch = auto_batch_size(model, info.input_shape, suite.fast_path())
        print(f"batch size: {args.batch} (auto, cached in {cache_path()})", file=sys.stderr)
    dataset = create_dataset(args.dataset, args.split, args.data_root)
    images = selected_images(dataset, suite.skip, suite.max)
    with ResumableTSV(args.outfile, columns, settings, args.overwrite) as out:
        for (position, idx), _ in pending_units(images, out, lambda image: [image[1]], args.command):
            x, label = dataset[position]
            if args.seed is not None:
                smoothed.manual_seed(image_seed(args.seed, idx))
            started = time.perf_counter()
            prediction, *rest = evaluate(smoothed, x)
            seconds = time.perf_counter() - started
            out.write([idx, label, prediction, *rest, int(prediction == label), f"{seconds:.4f}"])


SUMMARY_RADII = (0.0, 0.25, 0.5, 0.75, 1.0)


def certified_accuracy_summary(path: str | Path, radii: tuple[float, ...] = SUMMARY_RADII) -> str:
    rows = read_certify_log(path)
    table = tabulate([certified_accuracy(rows, radii)], headers=[f"r = {r}" for r in radii], floatfmt=".3f",
                     tablefmt="github")
    abstained = int((rows["predict"] == ABSTAIN).sum())
    return f"{path}: {len(rows)} images, {abstained} abstentions; certified accuracy\n{table}"


def certify_command(args: argparse.Namespace) -> None:
    def evaluate(smoothed: Smooth, x: torch.Tensor) -> tuple[int, str]:
        prediction, radius = smoothed.certify(x, args.N0, args.N, args.alpha, args.batch)
        return prediction, format_radius(radius)

    _run(args, CERTIFY_COLUMNS, evaluate)
    print(certified_accuracy_summary(args.outfile))


def predict_command(args: argparse.Namespace) -> None:
    _run(args, PREDICT_COLUMNS, lambda smoothed, x: (smoothed.predict(x, args.N, args.alpha, args.batch),))


def train_command(args: argparse.Namespace) -> None:
    config = TrainConfig(
        noise_sd=args.noise_sd, epochs=args.epochs, batch=args.batch, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, lr_step_size=args.lr_step_size, gamma=args.gamma, workers=args.workers,
        optimizer=args.optimizer, precision=args.precision, augment_on_device=args.augment_on_device,
    )
    train_set = create_dataset(args.dataset, "train", args.data_root)
    if args.train_images is not None:
        train_set = spread_subset(train_set, args.train_images)
    test_set = create_dataset(args.dataset, "test", args.data_root)
    if args.pretrained:
        model, _ = load_checkpoint(args.pretrained, args.dataset, args.arch)
    else:
        model = create_architecture(args.arch, args.dataset)
    criterion, fields = None, {"method": "gaussian_noise"}
    if args.lmt_c is not None:
        criterion = LipschitzMarginLoss(model, dataset_info(args.dataset).input_shape, args.lmt_c)
        fields = {"method": "lmt", "lmt_c": args.lmt_c}
    train_with_noise(
        model, args.arch, args.dataset, train_set, args.outdir, config, test_set=test_set,
        device=args.device, resume=args.resume, criterion=criterion, checkpoint_fields=fields,
    )


def evaluate_command(args: argparse.Namespace) -> None:
    device = resolve_device(args.device)
    dataset = create_dataset(args.dataset, args.split, args.data_root)
    data = torch.utils.data.Subset(dataset, [p for p, _ in selected_images(dataset, args.skip, args.max)])
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=False)
    rows = []
    for path in args.checkpoints:
        model, _ = load_checkpoint(path, args.dataset, args.arch, device)
        for noise_sd in args.noise_sd:
            torch.manual_seed(args.seed)
            loss, accuracy = run_epoch(model, loader, noise_sd, device, description=f"{Path(path).parent.name} {noise_sd:g}")
            rows.append(dict(checkpoint=str(path), dataset=args.dataset, split=args.split, noise_sd=noise_sd,
                             images=len(data), accuracy=accuracy, loss=loss))
    frame = pd.DataFrame(rows)
    print(tabulate(frame, headers="keys", tablefmt="github", showindex=False, floatfmt=".4f"))
    if args.out:
        _write_csv(frame, Path(args.out))


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
        _write_csv(frame, out.with_suffix(".csv"))
        out.with_suffix(".md").write_text(markdown + "\n")
        out.with_suffix(".tex").write_text(latex + "\n")


def bounds_command(args: argparse.Namespace) -> None:
    frame = bounds_frame(args.sigmas, args.p_a)
    if args.out:
        _write_csv(frame, Path(args.out))
    print(tabulate(bounds_table(frame), headers="keys", tablefmt="github", showindex=False, floatfmt=".4f"))


def add_suite_overrides(parser: argparse.ArgumentParser) -> None:
    """One flag per overridable Suite key, typed from the Suite's own field annotations."""
    kinds = {"int": dict(type=int), "float": dict(type=float), "str": dict(type=str),
             "bool | str": dict(type=lambda text: {"true": True, "false": False}.get(text.lower(), text)),
             "bool": dict(action=argparse.BooleanOptionalAction), "int | str": dict(type=batch_size_argument),
             "list[str]": dict(nargs="+")}
    for suite_field in dataclasses.fields(Suite):
        if suite_field.name in OVERRIDABLE:
            parser.add_argument(f"--{suite_field.name.replace('_', '-')}", dest=f"override_{suite_field.name}",
                                default=None, metavar=suite_field.name.upper(),
                                help=f"replace the suite's {suite_field.name}",
                                **kinds[suite_field.type])


def run_command(args: argparse.Namespace) -> None:
    shard, device = init_from_env(resolve_device(args.device))
    overrides = {key: getattr(args, f"override_{key}") for key in OVERRIDABLE
                 if getattr(args, f"override_{key}") is not None}
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
    _report_run(paths, Path(args.results))


def _report_run(paths: list[Path], results: Path) -> None:
    """A run's certified accuracy, then the leaderboard and plots regenerated with it."""
    frame = pd.concat([read_run(p) for p in paths], ignore_index=True)
    print(f"{', '.join(map(str, paths))}: {len(frame)} rows")
    print(markdown_table(run_accuracy_frame(frame)))
    written = regenerate(results)
    print(f"leaderboard and plots regenerated: {', '.join(str(p) for p in written[:2])}, {len(written) - 2} plot files")


def import_certify_command(args: argparse.Namespace) -> None:
    path, added = import_certify_logs(load_suite(args.suite), args.logs, args.device_name, args.code_version,
                                      args.run_id, Path(args.results) / "runs", args.data_root)
    print(f"{added} rows imported")
    _report_run([path], Path(args.results))


def throughput_command(args: argparse.Namespace) -> None:
    fast_paths = [FastPath(precision, args.channels_last, compile) for precision in args.precision
                  for compile in ([False, True] if args.compile else [False])]
    if args.memory:
        parts = [partial(peak_memory, arch, args.dataset, args.memory, args.batch, args.device) for arch in args.arch]
    elif args.certify_images:
        parts = [partial(time_certification, arch, args.dataset, fast_path, args.n0, args.n, args.batch,
                         args.certify_images, device=args.device, reference_core=args.reference_core)
                 for arch in args.arch for fast_path in fast_paths]
    else:
        parts = [partial(samples_per_second, arch, args.dataset, fast_path, args.batch, args.n, args.device)
                 for arch in args.arch for fast_path in fast_paths]
    frames = []
    for measure in parts:  # the CSV is rewritten after each part, so a run stopped midway keeps what it measured
        frames.append(measure())
        frame = pd.concat(frames, ignore_index=True)
        if args.out:
            _write_csv(frame, Path(args.out))
    if args.certify_images:
        print(tabulate(certification_summary(frame).drop(columns="device"), headers="keys", tablefmt="github",
                       showindex=False, floatfmt=",.3f"))
    print(tabulate(frame.drop(columns=["torch"], errors="ignore"), headers="keys", tablefmt="github", showindex=False,
                   floatfmt=",.3f"))


def sequential_savings_command(args: argparse.Namespace) -> None:
    frame = compare(args.model, args.dataset, args.sigma, args.images, args.skip, args.n0, args.n, args.alpha,
                    args.batch, args.scheme, Path(args.out), args.overwrite)
    print(tabulate(savings_summary(frame, args.dataset), headers="keys", tablefmt="github", showindex=False,
                   floatfmt=".3f"))


def lipschitz_command(args: argparse.Namespace) -> None:
    info = dataset_info(args.dataset)
    data = create_dataset(args.dataset, args.split, args.data_root)
    positions = [position for position, _ in selected_images(data, args.skip, args.max)]
    images, labels = _stacked_images(data, positions)
    rows = []
    for path in args.checkpoints:
        model, checkpoint = load_checkpoint(path, args.dataset, args.arch)
        certifier = LipschitzCertifier.for_model(model, info.input_shape)
        rows.append(dict(checkpoint=str(path), arch=args.arch or checkpoint.get("arch", ""),
                         lmt_c=checkpoint.get("lmt_c", ""), epoch=checkpoint.get("epoch", ""), dataset=args.dataset,
                         **lipschitz_report(certifier, images, labels, args.radii)))
    frame = pd.DataFrame(rows)
    print(tabulate(frame.drop(columns=["dataset"]), headers="keys", tablefmt="github", showindex=False, floatfmt=".4g"))
    if args.out:
        _write_csv(frame, Path(args.out))


def audit_command(args: argparse.Namespace) -> None:
    info = dataset_info(args.dataset)
    data = create_dataset(args.dataset, args.split, args.data_root)
    positions, official = zip(*selected_images(data, args.skip, args.max))
    model, _ = load_checkpoint(args.checkpoint, args.dataset, args.arch)
    if args.method == "lipschitz-margin":
        images, labels = _stacked_images(data, positions)
        frame = audit_lipschitz(LipschitzCertifier.for_model(model, info.input_shape), images, labels, official,
                                steps=args.steps, restarts=args.restarts, seed=args.seed)
        inside = "fooled_within_radius"
    else:
        if args.sigma is None:
            raise ValueError("audit gaussian needs --sigma, the noise level of the smoothed classifier")
        smoothed = Smooth(model, info.num_classes, args.sigma, input_shape=info.input_shape)
        frame = audit_smoothing(smoothed, [data[p][0] for p in positions], [data[p][1] for p in positions], official,
                                args.N0, args.N, args.alpha, args.batch, args.predict_N, steps=args.steps,
                                samples=args.samples, seed=args.seed, certified=args.certified)
        inside = "changed_within_radius"
    print(tabulate(frame, headers="keys", tablefmt="github", showindex=False, floatfmt=".4g"))
    print(f"{len(frame)} certified images attacked; successes inside the certified radius: {int(frame[inside].sum())}")
    if args.out:
        _write_csv(frame, Path(args.out))
    if frame[inside].any():
        raise ValueError(f"an attack succeeded inside a certified radius (rows with {inside} = True): a soundness bug")


def leaderboard_command(args: argparse.Namespace) -> None:
    results = Path(args.results)
    if args.reference_logs:
        _write_csv(published_certify_rows(Path(args.reference_logs)), results / "reference" / PAPER_ROWS_FILE)
    for path in regenerate(results):
        print(path)


def plot_command(args: argparse.Namespace) -> None:
    runs = pd.concat([read_run(path) for path in args.runs], ignore_index=True)
    for path in plot_certified_accuracy(runs, Path(args.out)) + plot_bounds(bounds_frame(), Path(args.out)):
        print(path)


def _add_image_arguments(parser: argparse.ArgumentParser) -> None:
    """The checkpoint's architecture and the images a command reads (dataset, split, folder, skip/max)."""
    parser.add_argument("--arch", choices=architecture_names(), help="if the checkpoint does not name one")
    parser.add_argument("--dataset", default="cifar10-embedded", choices=dataset_names())
    parser.add_argument("--split", choices=["train", "test"], default="test")
    parser.add_argument("--data-root")
    parser.add_argument("--skip", type=int, default=1, help="take every skip-th image")
    parser.add_argument("--max", type=int, default=-1, help="stop before this position (-1: all)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="smoothbench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    certify = commands.add_parser("certify", help="CERTIFY (Cohen et al. Algorithm 2) each selected input")
    _add_smoothing_arguments(certify)
    certify.add_argument("--N0", "--n0", type=positive_int, default=100, help="selection samples")
    certify.set_defaults(handler=certify_command)

    predict = commands.add_parser("predict", help="PREDICT (Cohen et al. Algorithm 1) each selected input")
    _add_smoothing_arguments(predict)
    predict.set_defaults(handler=predict_command)

    train = commands.add_parser("train", help="train a base classifier with Gaussian noise augmentation")
    train.add_argument("dataset", choices=dataset_names())
    train.add_argument("arch", choices=architecture_names())
    train.add_argument("outdir", help="folder for checkpoint.pth.tar and log.tsv")
    train.add_argument("--noise_sd", "--noise-sd", type=non_negative_float, default=0.0, help="sigma of the training noise (0: none)")
    train.add_argument("--lmt-c", type=non_negative_float, help="Lipschitz-margin training (Tsuzuku et al. 2018) with this c")
    train.add_argument("--data-root")
    train.add_argument("--pretrained", help="start from this checkpoint's weights (fine-tuning)")
    train.add_argument("--epochs", type=positive_int, default=90)
    train.add_argument("--batch", type=positive_int, default=256)
    train.add_argument("--lr", type=positive_float, default=0.1)
    train.add_argument("--lr_step_size", "--lr-step-size", type=positive_int, default=30)
    train.add_argument("--gamma", type=positive_float, default=0.1)
    train.add_argument("--momentum", type=non_negative_float, default=0.9)
    train.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd", help="sgd (the reference) or adam")
    train.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="bf16: autocast (GPU training)")
    train.add_argument("--augment-on-device", action="store_true",
                       help="keep the decoded images on the device and crop/flip them there (fast on a GPU)")
    train.add_argument("--weight-decay", type=non_negative_float, default=1e-4)
    train.add_argument("--workers", type=non_negative_int, default=2)
    train.add_argument("--device", default="auto")
    train.add_argument("--resume", action="store_true", help="continue from outdir/checkpoint.pth.tar")
    train.add_argument("--train-images", type=positive_int, metavar="N",
                       help="train on N images spread evenly over the training set (quick checks)")
    train.set_defaults(handler=train_command)

    run = commands.add_parser("run", help="run (or resume) a benchmark suite; default: the quick embedded suite")
    run.add_argument("suite", nargs="?", default="quick", help=f"suite name ({', '.join(suite_names())}) or TOML file")
    run.add_argument("--results", default="results",
                     help="results folder: rows go to RESULTS/runs/<suite>/<run-id>.tsv, the leaderboard to RESULTS/")
    run.add_argument("--run-id", help="default: <device type>-<precision>[-<key><value> per other override]")
    run.add_argument("--data-root")
    run.add_argument("--device", default="auto")
    add_suite_overrides(run)
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

    throughput = commands.add_parser("throughput", help="noisy samples/s: plain forward (ceiling), our sampler, reference-style loop")
    throughput.add_argument("--arch", nargs="+", default=["cifar_resnet110"])
    throughput.add_argument("--dataset", default="cifar10")
    throughput.add_argument("--precision", nargs="+", default=["fp32"], choices=list(PRECISIONS))
    throughput.add_argument("--channels-last", action="store_true")
    throughput.add_argument("--compile", action="store_true", help="also measure each precision compiled (torch.compile)")
    throughput.add_argument("--batch", type=positive_int, default=400)
    throughput.add_argument("--n", type=positive_int, default=2000, help="samples timed per method")
    throughput.add_argument("--device", default="auto")
    throughput.add_argument("--memory", type=positive_int, nargs="+", metavar="N",
                            help="measure peak memory for these sample counts instead of speed")
    throughput.add_argument("--certify-images", type=positive_int, metavar="K",
                            help="time CERTIFY (n0 + n samples) on K images per method instead of samples/s")
    throughput.add_argument("--n0", type=positive_int, default=100, help="selection samples of --certify-images")
    throughput.add_argument("--reference-core", metavar="PATH",
                            help="with --certify-images: also time the reference implementation's certify, from "
                                 "this copy of locuslab/smoothing's code/core.py (needs CUDA)")
    throughput.add_argument("--out", help="CSV file (e.g. results/throughput/samples_per_s_<device>.csv)")
    throughput.set_defaults(handler=throughput_command)

    savings = commands.add_parser("sequential-savings",
                                  help="samples sequential CERTIFY saves against CERTIFY, same model, images and seeds")
    savings.add_argument("--model", default="cifar10-jpeg-resnet20-noise0.25", help="a registered model")
    savings.add_argument("--dataset", default="cifar10-embedded", choices=dataset_names())
    savings.add_argument("--sigma", type=positive_float, default=0.25)
    savings.add_argument("--images", type=positive_int, default=20)
    savings.add_argument("--skip", type=positive_int, default=25)
    savings.add_argument("--n0", type=positive_int, default=100)
    savings.add_argument("--n", type=positive_int, default=10_000)
    savings.add_argument("--alpha", type=float, default=0.001)
    savings.add_argument("--batch", type=positive_int, default=500)
    savings.add_argument("--scheme", default="grid", help=f"sequential scheme ({', '.join(scheme_names())})")
    savings.add_argument("--out", required=True, help="TSV file of per-image rows (resumed if it exists)")
    savings.add_argument("--overwrite", action="store_true", help="start again instead of resuming --out")
    savings.set_defaults(handler=sequential_savings_command)

    lipschitz = commands.add_parser(
        "lipschitz", help="Lipschitz-margin certification of checkpoints: sound bound, estimate, certified accuracy")
    lipschitz.add_argument("checkpoints", nargs="+")
    _add_image_arguments(lipschitz)
    lipschitz.add_argument("--radii", type=non_negative_float, nargs="+", default=[0.0, 36 / 255, 0.25, 0.5],
                           help="radii of the certified accuracy (default 0, 36/255, 0.25, 0.5)")
    lipschitz.add_argument("--out", help="write the rows to this CSV file")
    lipschitz.set_defaults(handler=lipschitz_command)

    audit = commands.add_parser("audit", help="attack certified images inside their radius (soundness audit)")
    audit.add_argument("method", choices=["lipschitz-margin", "gaussian"])
    audit.add_argument("checkpoint")
    audit.add_argument("--sigma", type=positive_float, help="noise level (gaussian)")
    _add_image_arguments(audit)
    audit.add_argument("--steps", type=positive_int, default=100, help="PGD steps (gaussian: 20 is plenty)")
    audit.add_argument("--restarts", type=positive_int, default=10, help="random restarts (lipschitz-margin)")
    audit.add_argument("--samples", type=positive_int, default=16, help="noise draws per PGD step (gaussian)")
    audit.add_argument("--certified", type=positive_int, help="stop after this many certified images (gaussian)")
    audit.add_argument("--N0", "--n0", type=positive_int, default=100)
    audit.add_argument("--N", "--n", type=positive_int, default=10_000, help="CERTIFY samples (gaussian)")
    audit.add_argument("--predict-N", "--predict-n", type=positive_int, default=10_000, help="PREDICT samples on the attacked point")
    audit.add_argument("--alpha", type=float, default=0.001)
    audit.add_argument("--batch", type=positive_int, default=1000)
    audit.add_argument("--seed", type=non_negative_int, default=0)
    audit.add_argument("--out", help="write the rows to this CSV file")
    audit.set_defaults(handler=audit_command)

    evaluate = commands.add_parser("evaluate", help="accuracy of base classifiers on a dataset, clean and under noise")
    evaluate.add_argument("checkpoints", nargs="+")
    _add_image_arguments(evaluate)
    evaluate.add_argument("--noise-sd", type=non_negative_float, nargs="+", default=[0.0], help="noise levels (0: clean)")
    evaluate.add_argument("--batch", type=positive_int, default=500)
    evaluate.add_argument("--seed", type=non_negative_int, default=0, help="seed of the noise")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--out", help="write the rows to this CSV file")
    evaluate.set_defaults(handler=evaluate_command)

    leaderboard = commands.add_parser("leaderboard", help="regenerate results/leaderboard.md, .csv and plots/ from all runs")
    leaderboard.add_argument("--results", default="results")
    leaderboard.add_argument("--reference-logs", help=f"Cohen et al.'s released logs folder: (re)writes their per-image rows, {PAPER_ROWS_FILE}")
    leaderboard.set_defaults(handler=leaderboard_command)

    plot = commands.add_parser("plot", help="certified accuracy curves of suite runs, and the bounds comparison")
    plot.add_argument("runs", nargs="+", help="suite run TSV files")
    plot.add_argument("--out", default="results/plots")
    plot.set_defaults(handler=plot_command)

    table = commands.add_parser("table", help="approximate certified accuracy of certify logs (Markdown, LaTeX, CSV)")
    table.add_argument("logs", nargs="+", help="certify TSV files (ours or the reference's)")
    table.add_argument("--radii", type=non_negative_float, nargs="+", help="radii (default: the start/stop/step grid)")
    table.add_argument("--radius-start", type=non_negative_float, default=0.25)
    table.add_argument("--radius-stop", type=non_negative_float, default=1.5)
    table.add_argument("--radius-step", type=positive_float, default=0.25)
    table.add_argument("--out", help="write OUT.md, OUT.tex and the tidy OUT.csv")
    table.set_defaults(handler=table_command)

    bounds = commands.add_parser("bounds", help="radius of each smoothing guarantee for a grid of pA (pB = 1 - pA)")
    bounds.add_argument("--sigmas", type=positive_float, nargs="+", default=list(PAPER_SIGMAS))
    bounds.add_argument("--p-a", type=float, nargs="+", default=list(PAPER_P_A))
    bounds.add_argument("--out", help="write the tidy frame to this CSV file")
    bounds.set_defaults(handler=bounds_command)
    for subparser in commands.choices.values():
        subparser.add_argument("--debug", action="store_true", help="on an error, show its traceback")
    return parser


def describe(error: BaseException) -> str:
    """One line for the user: the message, with the file an OS error names; the type where it is not a
    usage error (a bug, or a library's complaint)."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}; check the path and its permissions"
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    message = " ".join(message.split()) or "(no message)"
    if not isinstance(error, (ValueError, KeyError, OSError)):
        message = f"{type(error).__name__}: {message} (rerun with --debug for the traceback)"
    return message


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # a usage error (one line, status 2), or --help (status 0)
        return stop.code if isinstance(stop.code, int) else 2

    def show_warning(message, *_) -> None:
        print(f"smoothbench {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            args.handler(args)
    except KeyboardInterrupt:
        print(f"smoothbench {args.command}: interrupted; every finished row is kept, rerun the same command to resume",
              file=sys.stderr)
        return 130
    except Exception as error:  # every failure is one line and exit status 2; --debug shows the traceback
        if args.debug:
            raise
        print(f"smoothbench {args.command}: error: {describe(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
