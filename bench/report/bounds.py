"""The bounds comparison as data: radius per (guarantee, sigma, pA), pB = 1 - pA, and its ratio to the tight
Gaussian one (Cohen et al.)."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from bench.commands import positive_float, write_csv
from smoothing.guarantees import certified_radius, guarantee_names

PAPER_SIGMAS = (0.25, 0.5, 1.0)
PAPER_P_A = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)


def bounds_frame(sigmas: Sequence[float] = PAPER_SIGMAS, p_as: Sequence[float] = PAPER_P_A) -> pd.DataFrame:
    """Tidy frame: guarantee, sigma, p_a, p_b, radius, ratio_to_gaussian."""
    rows = []
    for sigma in sigmas:
        tight = certified_radius("gaussian", sigma, p_as)
        for name in guarantee_names():
            radius = certified_radius(name, sigma, p_as)
            for p_a, r, c in zip(p_as, radius, tight):
                rows.append(dict(guarantee=name, sigma=sigma, p_a=p_a, p_b=1 - p_a, radius=float(r),
                                 ratio_to_gaussian=float(r / c) if c > 0 else float("nan")))
    return pd.DataFrame(rows)


def bounds_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Wide view: one row per (sigma, pA), each guarantee's radius and its ratio to the Gaussian one."""
    wide = frame.pivot_table(index=["sigma", "p_a"], columns="guarantee", values="radius")
    gaussian = wide["gaussian"].where(wide["gaussian"] > 0)  # no ratio where nothing is certified (pA <= 1/2)
    for name in wide.columns.drop("gaussian"):
        wide[f"{name} / gaussian"] = wide[name] / gaussian
    return wide.reset_index()



def bounds_command(args: argparse.Namespace) -> None:
    frame = bounds_frame(args.sigmas, args.p_a)
    if args.out:
        write_csv(frame, Path(args.out))
    print(tabulate(bounds_table(frame), headers="keys", tablefmt="github", showindex=False, floatfmt=".4f"))


def add_commands(commands: argparse._SubParsersAction) -> None:
    bounds = commands.add_parser("bounds", help="radius of each smoothing guarantee for a grid of pA (pB = 1 - pA)")
    bounds.add_argument("--sigmas", type=positive_float, nargs="+", default=list(PAPER_SIGMAS))
    bounds.add_argument("--p-a", type=float, nargs="+", default=list(PAPER_P_A))
    bounds.add_argument("--out", help="write the tidy frame to this CSV file")
    bounds.set_defaults(handler=bounds_command)
