"""Sequential CERTIFY (beyond Cohen et al.): stop sampling an image early once its answer is settled.

Samples are drawn in K stages of geometrically growing size n_1 < ... < n_K = n. At stage k the counts
so far give Clopper-Pearson bounds [pA_lower_k, pA_upper_k] at level alpha / K each; by the union bound
all K of them hold together with probability >= 1 - alpha, so the certificate stays valid at level alpha
whatever stage the data make us stop at (a Bonferroni-corrected sequence of tests). Stop when
  - pA_upper_k < 1/2: the image would abstain anyway;
  - sigma * PhiInv(pA_upper_k) - sigma * PhiInv(pA_lower_k) <= tolerance * sigma: more samples could not
    move the radius by more than the tolerance; or
  - sigma * PhiInv(pA_lower_k) >= max_radius: the radius already reaches what the user asked for.
The price is the smaller level alpha / K of each bound, so a full-length run certifies a little less.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from scipy.stats import norm

from smoothing.core import ABSTAIN, Certificate, Smooth, check_sample_sizes
from smoothing.statistics import check_alpha, clopper_pearson_lower, clopper_pearson_upper, gaussian_radius


def stage_sizes(n: int, stages: int) -> list[int]:
    """Cumulative sample sizes n / 2^(K-1), ..., n / 2, n."""
    return sorted({max(1, math.ceil(n / 2 ** (stages - k))) for k in range(1, stages + 1)})


def certify_sequential(
    smoothed: Smooth, x: torch.Tensor, n0: int, n: int, alpha: float, batch_size: int, *,
    stages: int = 4, tolerance: float = 0.05, max_radius: float = math.inf,
) -> Certificate:
    """CERTIFY one image (C, H, W) with early stopping; `Certificate.n` is the number of samples used."""
    check_alpha(alpha)
    check_sample_sizes(n, batch_size, n0)
    if stages < 1 or tolerance < 0:
        raise ValueError(f"stages must be >= 1 and tolerance >= 0, got {stages}, {tolerance}")
    images = smoothed.one_image(x)
    smoothed.base_classifier.eval()
    started = time.perf_counter()
    top_class = int(smoothed.sampler.counts(images, n0, batch_size)[0].argmax())
    sizes = stage_sizes(n, stages)
    level = alpha / len(sizes)
    counts, used = np.zeros(smoothed.num_classes, dtype=np.int64), 0
    for size in sizes:
        counts += smoothed.sampler.counts(images, size - used, batch_size)[0]
        used = size
        lower = float(clopper_pearson_lower(counts[top_class], used, level))
        upper = float(clopper_pearson_upper(counts[top_class], used, level))
        radius_lower = smoothed.sigma * norm.ppf(lower)
        settled = smoothed.sigma * (norm.ppf(upper) - norm.ppf(lower)) <= tolerance * smoothed.sigma
        if upper < 0.5 or (lower >= 0.5 and (settled or radius_lower >= max_radius)):
            break
    return Certificate(
        prediction=top_class if lower >= 0.5 else ABSTAIN, radius=float(gaussian_radius(smoothed.sigma, lower)),
        p_a_lower=lower, top_class=top_class, counts=counts, n0=n0, n=used, alpha=alpha, sigma=smoothed.sigma,
        seconds=time.perf_counter() - started,
    )
