"""Migrations of committed result files, applied once by scripts/ and kept so that a test can check a
committed file against its source.

Float32 noise (before the float64 sampler, see smoothing.sampler): torch's float32 Box-Muller never draws
beyond z_max = sqrt(-2 ln u_min) sigma, u_min = 2^-24 on the CPU (5.77) and 2^-33 on CUDA (6.76), so its noise
differs from N(0, sigma^2 I) on an event of probability at most gap = d 2 Phi(-z_max) per sample (2.5e-5 on
the CPU, 4.1e-8 on CUDA for a CIFAR-10 image). A row certified with it is sound once pA_lower is lowered by
that gap: from a row's radius R (written rounded down, so Phi(R / sigma) <= the pA_lower it came from),
pA' = Phi(R / sigma) - gap, and the guarantee's radius at pA' (abstain where pA' < 1/2).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from bench.records import ABSTAIN
from smoothing.guarantees import certified_radius, guarantee_names

FLOAT32_SMALLEST_UNIFORM = {"cpu": 2.0**-24, "cuda": 2.0**-33}  # of torch's float32 normal_ (Box-Muller)
CDF_SLACK = 1e-12  # relative: Phi(R / sigma) is evaluated a few ulps from its exact value


def float32_noise_gap(dimension: int, device_type: str) -> float:
    """d 2 Phi(-z_max): the probability that float32 Box-Muller noise of d coordinates differs from the
    Gaussian by its missing tail (z_max = sqrt(-2 ln u_min))."""
    z_max = math.sqrt(-2.0 * math.log(FLOAT32_SMALLEST_UNIFORM[device_type]))
    return dimension * 2.0 * float(norm.sf(z_max))


def lower_for_float32_noise(rows: pd.DataFrame, dimension: int, device_type: str) -> pd.DataFrame:
    """Run rows certified with float32 noise, each smoothing guarantee's radius recomputed from the lowered
    pA' of its image's gaussian row (the same sampling pass); deterministic rows unchanged. Other smoothing
    certifiers (PixelDP's score estimator) cannot be recomputed from the rows and are refused."""
    gap = float32_noise_gap(dimension, device_type)
    smoothing = rows["sigma"].notna()
    unknown = sorted(set(rows.loc[smoothing, "certifier"]) - set(guarantee_names()))
    if unknown:
        raise ValueError(f"rows of {', '.join(unknown)} cannot be lowered from their radii; rerun them instead")
    pass_keys = ["model", "sigma", "idx"]
    gaussian = rows[smoothing & (rows["certifier"] == "gaussian")].set_index(pass_keys)
    sigma = gaussian.index.get_level_values("sigma")
    p_a = norm.cdf(gaussian["radius"] / sigma) * (1 - CDF_SLACK) - gap
    p_a = pd.Series(np.where(gaussian["predict"] == ABSTAIN, 0.0, p_a), index=gaussian.index)
    lowered = rows.copy()
    for index, row in rows[smoothing].iterrows():
        p = float(p_a[tuple(row[key] for key in pass_keys)])
        if p < 0.5:
            lowered.loc[index, ["predict", "radius", "correct"]] = [ABSTAIN, 0.0, 0]
        else:
            lowered.loc[index, "radius"] = min(float(certified_radius(row["certifier"], row["sigma"], p)), row["radius"])
    return lowered
