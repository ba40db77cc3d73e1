"""Sequential CERTIFY (beyond Cohen et al.): stop sampling an image once its row of the certified-accuracy
table is settled.

A table reports, per image, the largest reported radius r_j (of radii r_1 < ... < r_m) with r_j <= R, or
an abstention. Samples are drawn in K stages of geometrically growing size n_1 < ... < n_K = n. At
stage k the counts so far give Clopper-Pearson bounds [lower_k, upper_k] on pA at level alpha_k, where
the last stage gets alpha_K = alpha / 2 and the others split the rest, alpha_k = alpha / (2 (K - 1)). As
sum_k alpha_k = alpha, by the union bound all K bounds hold together with probability >= 1 - alpha, so

    pA_lower = max_{k <= stop} lower_k,    R = sigma * PhiInv(pA_lower)

is a valid level-alpha certificate whatever stage the data make us stop at (a Bonferroni-corrected
sequence of tests). Stopping is only a decision about effort and never touches validity: stop at stage k
when the best radius more samples could still reach,
    R_best = sigma * PhiInv(min(upper_k, alpha_K^(1 / n))),
(the second term is all n samples voting for cA) lies in the same table cell as R, or upper_k < 1/2
(the image abstains). The price is the smaller level of each bound: a run that goes to n certifies at
level alpha / 2, a little less than CERTIFY at level alpha.
"""
from __future__ import annotations

import bisect
import math
import time
from collections.abc import Sequence

import numpy as np
import torch

from smoothing.core import ABSTAIN, Certificate, Smooth, check_sample_sizes
from smoothing.sampler import noise_tail_gap
from smoothing.statistics import check_alpha, clopper_pearson_lower, clopper_pearson_upper, gaussian_radius


def stage_sizes(n: int, stages: int) -> list[int]:
    """Cumulative sample sizes n / 2^(K-1), ..., n / 2, n."""
    return sorted({max(1, math.ceil(n / 2 ** (stages - k))) for k in range(1, stages + 1)})


def stage_levels(alpha: float, stages: int) -> list[float]:
    """alpha_k: alpha / 2 for the last stage, alpha / (2 (K - 1)) for each earlier one; they sum to alpha."""
    if stages == 1:
        return [alpha]
    return [alpha / (2 * (stages - 1))] * (stages - 1) + [alpha / 2]


def table_cell(radius: float, p_a: float, radii: Sequence[float]) -> int:
    """-1 for an abstention (p_a < 1/2), else the number of reported radii r_j <= radius."""
    return -1 if p_a < 0.5 else bisect.bisect_right(sorted(radii), radius)


def certify_sequential(
    smoothed: Smooth, x: torch.Tensor, n0: int, n: int, alpha: float, batch_size: int, *,
    radii: Sequence[float], stages: int = 6,
) -> Certificate:
    """CERTIFY one image (C, H, W), stopping once its cell of the table over `radii` is settled.
    `Certificate.n` is the number of samples used and `Certificate.alpha` the level of the stopping stage's bound."""
    check_alpha(alpha)
    check_sample_sizes(n, batch_size, n0)
    if stages < 1 or not radii or min(radii) < 0:
        raise ValueError(f"need stages >= 1 and at least one reported radius >= 0, got stages={stages}, radii={radii}")
    images = smoothed.one_image(x)
    smoothed.base_classifier.eval()
    started = time.perf_counter()
    top_class = int(smoothed.sampler.counts(images, n0, batch_size)[0].argmax())
    sizes = stage_sizes(n, stages)
    levels = stage_levels(alpha, len(sizes))
    gap = noise_tail_gap(images[0].numel())  # the drawn noise against the Gaussian (smoothing.sampler)
    best_possible = float(clopper_pearson_lower(n, n, levels[-1])) - gap  # every sample votes for cA
    counts, used, p_a_lower = np.zeros(smoothed.num_classes, dtype=np.int64), 0, 0.0
    for size, level in zip(sizes, levels):
        counts += smoothed.sampler.counts(images, size - used, batch_size)[0]
        used = size
        p_a_lower = max(p_a_lower, float(clopper_pearson_lower(counts[top_class], used, level)) - gap)
        p_a_upper = min(float(clopper_pearson_upper(counts[top_class], used, level)) + gap, best_possible)
        now = table_cell(float(gaussian_radius(smoothed.sigma, p_a_lower)), p_a_lower, radii)
        best = table_cell(float(gaussian_radius(smoothed.sigma, p_a_upper)), p_a_upper, radii)
        if now == best:
            break
    return Certificate(
        prediction=top_class if p_a_lower >= 0.5 else ABSTAIN, radius=float(gaussian_radius(smoothed.sigma, p_a_lower)),
        p_a_lower=p_a_lower, top_class=top_class, counts=counts, n0=n0, n=used, alpha=level, sigma=smoothed.sigma,
        seconds=time.perf_counter() - started, noise_gap=gap,
    )
