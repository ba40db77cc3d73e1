"""Throughput of the sampler against the forward-pass ceiling, the reference-style loop and the real
reference implementation (`smoothbench throughput`).

The reference-style loop is the sampling loop of Cohen et al.'s released code: per batch it repeats the
image, draws noise with randn_like, and copies the predictions to the host for numpy counting (one host
sync per batch). The real reference (their code/core.py) is loaded from a user's copy (bench.tools.reference_core).
"""
from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tabulate import tabulate
from torch import nn

from bench.commands import positive_int, write_csv
from bench.suite import default_of
from bench.tools.reference_core import load_reference_core
from smoothing.architectures import create_architecture
from smoothing.core import Smooth
from smoothing.datasets import dataset_info
from smoothing.devices import device_name, resolve_device
from smoothing.sampler import PRECISIONS, FastPath, NoiseSampler

PAPER_SAMPLES = default_of("n0") + default_of("n")  # per image: the paper's protocol, the suites' default


@torch.no_grad()
def reference_style_counts(
    model: nn.Module, x: torch.Tensor, num: int, sigma: float, batch_size: int, num_classes: int,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Counts of argmax f(x + e) the reference's way: repeat, fresh noise, host copy and numpy per batch."""
    counts = np.zeros(num_classes, dtype=np.int64)
    remaining = num
    while remaining > 0:
        size = min(batch_size, remaining)
        remaining -= size
        batch = x.repeat((size, 1, 1, 1))
        noise = torch.randn(batch.shape, generator=generator, device=batch.device) * sigma
        predictions = model(batch + noise).argmax(1).cpu().numpy()
        counts += np.bincount(predictions, minlength=num_classes)
    return counts


METHOD_NAMES = ("plain-forward", "ours", "reference-style", "reference (locuslab core.py)")  # what is timed, in order

def timed(run: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of run(), with the device's queued work finished before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def time_certification(
    arch: str, dataset: str, fast_path: FastPath, n0: int, n: int, batch: int, images: int, sigma: float = 0.25,
    device: str = "auto", reference_core: str | None = None,
) -> pd.DataFrame:
    """Seconds per certified image (n0 + n samples): our Smooth with `fast_path`, the reference-style loop
    and, given the path of the reference's code/core.py, its own certify, taking turns image by image on
    the same model and inputs. Random weights: timing only."""
    torch_device = resolve_device(device)
    info = dataset_info(dataset)
    model = create_architecture(arch, dataset).to(torch_device).eval()
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.rand(info.input_shape, generator=generator).to(torch_device) for _ in range(images)]
    ours = Smooth(model, info.num_classes, sigma, fast_path=fast_path)
    methods = {
        "ours": lambda x: ours.certify(x, n0, n, default_of("alpha"), batch),
        "reference-style": lambda x: [reference_style_counts(model, x, num, sigma, batch, info.num_classes)
                                      for num in (n0, n)],
    }
    if reference_core is not None:
        if torch_device.type != "cuda":
            raise ValueError("the reference's core.py draws its noise on CUDA (randn_like(..., device='cuda')): time "
                             "it with --device cuda on a GPU")
        reference = load_reference_core(reference_core).Smooth(model, info.num_classes, sigma)
        methods["reference (locuslab core.py)"] = lambda x: reference.certify(x, n0, n, default_of("alpha"), batch)
    methods["ours"](inputs[0])  # warm-up: kernels, allocator, compilation
    rows = []
    for i, x in enumerate(inputs):
        for method, run in methods.items():
            seconds = timed(lambda: run(x), torch_device)
            rows.append(dict(arch=arch, fast_path=fast_path.label(), method=method, image=i, n0=n0, n=n, batch=batch,
                             seconds=seconds, device=device_name(torch_device), torch=torch.__version__))
    return pd.DataFrame(rows)


@torch.no_grad()
def samples_per_second(
    arch: str, dataset: str, fast_path: FastPath, batch: int, num: int, device: str = "auto", sigma: float = 0.25,
    repeats: int = 5,
) -> pd.DataFrame:
    """Noisy samples per second on one image: the plain forward pass of the same net, fast path and batch
    on pre-drawn noisy inputs (the ceiling), our sampler, and the reference-style loop (eager, same
    precision). The methods take turns `repeats` times, so drift on a shared machine hits all of them;
    each keeps its best turn."""
    torch_device = resolve_device(device)
    info = dataset_info(dataset)
    model = create_architecture(arch, dataset).to(torch_device).eval()
    x = torch.rand(info.input_shape, generator=torch.Generator().manual_seed(0)).to(torch_device)
    sampler = NoiseSampler(model, info.num_classes, sigma, fast_path=fast_path)
    num = num // batch * batch
    noisy = (x + sigma * torch.randn((batch, *info.input_shape), device=torch_device)).contiguous(
        memory_format=fast_path.memory_format())
    autocast = sampler.autocast
    forward = sampler.forward

    def ceiling() -> None:
        for _ in range(num // batch):
            with autocast():
                forward(noisy).argmax(1)

    def reference() -> None:
        with autocast():
            reference_style_counts(model, x, num, sigma, batch, info.num_classes)

    methods = {"plain-forward": ceiling, "ours": lambda: sampler.counts(x[None], num, batch),
               "reference-style": reference}
    for run in methods.values():
        run()  # warm-up: kernels, allocator, compilation
    best = {method: math.inf for method in methods}
    for _ in range(repeats):
        for method, run in methods.items():
            best[method] = min(best[method], timed(run, torch_device))
    frame = pd.DataFrame([
        dict(arch=arch, precision=fast_path.precision, channels_last=int(fast_path.channels_last),
             compile=int(fast_path.compile), method=method, batch=batch, samples=num, samples_per_s=num / seconds,
             device=device_name(torch_device), torch=torch.__version__)
        for method, seconds in best.items()
    ])
    frame["ratio_to_ceiling"] = frame["samples_per_s"] / frame["samples_per_s"].iloc[0]
    frame["seconds_per_image_n100k"] = PAPER_SAMPLES / frame["samples_per_s"]
    return frame


def fast_path_label(frame: pd.DataFrame) -> pd.Series:
    """The FastPath label ("bf16+compile", ...) of each throughput row."""
    return frame.apply(lambda r: FastPath(r["precision"], bool(r["channels_last"]), bool(r["compile"])).label(), axis=1)


def summary_frame(throughput: pd.DataFrame) -> pd.DataFrame:
    """One row per (device, arch, fast path): ceiling, ours and reference-style samples/s, our ratio to the
    ceiling, our speed-up over the reference-style loop, and our seconds per image at n0 + n = 100,100."""
    frame = throughput.assign(fast_path=fast_path_label(throughput))
    wide = frame.pivot_table(index=["device", "arch", "fast_path", "batch"], columns="method", values="samples_per_s")
    summary = pd.DataFrame({
        "ceiling_samples_per_s": wide["plain-forward"], "ours_samples_per_s": wide["ours"],
        "ours_over_ceiling": wide["ours"] / wide["plain-forward"],
        "reference_style_samples_per_s": wide["reference-style"],
        "ours_over_reference_style": wide["ours"] / wide["reference-style"],
        "ours_seconds_per_image_n100k": PAPER_SAMPLES / wide["ours"],
    })
    return summary.reset_index()


def certification_summary(seconds: pd.DataFrame) -> pd.DataFrame:
    """One row per (device, arch, fast path, n0, n, batch) of `time_certification` rows: mean seconds per
    image of each method, and each other method's seconds over ours (its time / our time: our speed-up).
    The reference-style loop and the reference's own certify run as released: fp32, eager."""
    keys = ["device", "arch", "fast_path", "n0", "n", "batch"]
    wide = seconds.groupby(keys + ["method"], sort=False)["seconds"].mean().unstack("method")
    summary = wide[["ours", *wide.columns.drop("ours")]].add_suffix(" s")
    for method in wide.columns.drop("ours"):
        summary[f"{method} / ours"] = wide[method] / wide["ours"]
    return summary.rename_axis(columns=None).reset_index()


def memory_summary(memory: pd.DataFrame) -> pd.DataFrame:
    """Peak memory of `peak_memory` rows in MiB, one column per n: flat in n means O(batch), not O(n)."""
    wide = memory.assign(peak_mib=memory["peak_bytes"] / 2**20).pivot_table(
        index=["device", "measure", "arch", "batch"], columns="n", values="peak_mib", sort=False).sort_index(axis=1)
    return wide.rename(columns=lambda n: f"n={n:,} MiB").rename_axis(columns=None).reset_index()


def _resident_peak_bytes() -> int:
    with open("/proc/self/status") as f:
        return int(dict(line.split(":", 1) for line in f)["VmHWM"].split()[0]) * 1024


def _reset_resident_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_memory(arch: str, dataset: str, ns: list[int], batch: int, device: str = "auto") -> pd.DataFrame:
    """Peak memory of sampling n noisy copies of one image, for each n: CUDA's peak allocated bytes, or on
    the CPU the growth of the process's peak resident set (Linux) over the warm baseline."""
    torch_device = resolve_device(device)
    info = dataset_info(dataset)
    model = create_architecture(arch, dataset).to(torch_device).eval()
    sampler = NoiseSampler(model, info.num_classes, 0.25)
    x = torch.rand((1, *info.input_shape), generator=torch.Generator().manual_seed(0))
    sampler.counts(x, batch, batch)  # warm-up: allocator, kernels
    rows = []
    for num in ns:
        if torch_device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(torch_device)
            sampler.counts(x, num, batch)
            peak = torch.cuda.max_memory_allocated(torch_device)
        else:
            _reset_resident_peak()
            baseline = _resident_peak_bytes()
            sampler.counts(x, num, batch)
            peak = _resident_peak_bytes() - baseline
        rows.append(dict(arch=arch, n=num, batch=batch, peak_bytes=peak, device=device_name(torch_device),
                         measure="cuda max_memory_allocated" if torch_device.type == "cuda" else "growth of VmHWM"))
    return pd.DataFrame(rows)


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
            write_csv(frame, Path(args.out))
    if args.certify_images:
        print(tabulate(certification_summary(frame).drop(columns="device"), headers="keys", tablefmt="github",
                       showindex=False, floatfmt=",.3f"))
    print(tabulate(frame.drop(columns=["torch"], errors="ignore"), headers="keys", tablefmt="github", showindex=False,
                   floatfmt=",.3f"))


def add_commands(commands: argparse._SubParsersAction) -> None:
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
    throughput.add_argument("--n0", type=positive_int, default=default_of("n0"), help="selection samples of --certify-images")
    throughput.add_argument("--reference-core", metavar="PATH",
                            help="with --certify-images: also time the reference implementation's certify, from "
                                 "this copy of locuslab/smoothing's code/core.py (needs CUDA)")
    throughput.add_argument("--out", help="CSV file (e.g. results/throughput/samples_per_s_<device>.csv)")
    throughput.set_defaults(handler=throughput_command)
