"""The confidence bounds and tests of Cohen, Rosenfeld & Kolter (ICML 2019), in one place.

All functions accept numpy arrays (vectorised) or plain numbers.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import beta, binomtest, norm


def check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}; the paper uses alpha = 0.001")


def check_sigma(sigma: float) -> None:
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, got {sigma}; the paper uses 0.12 to 1.0")


def _check_counts(successes, trials) -> tuple[np.ndarray, np.ndarray]:
    k, n = np.asarray(successes), np.asarray(trials)
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise ValueError(f"counts must satisfy 0 <= successes <= trials and trials >= 1, got {k} of {n}")
    return k, n


def clopper_pearson_lower(successes, trials, alpha: float):
    """One-sided (1 - alpha) lower bound on p from k successes in n trials.

    Clopper & Pearson (1934): p_lower = Beta(alpha; k, n - k + 1) quantile, and 0 when k = 0.
    Cohen et al. (2019), Algorithm 2, LowerConfBound.
    """
    check_alpha(alpha)
    k, n = _check_counts(successes, trials)
    with np.errstate(invalid="ignore"):
        bound = beta.ppf(alpha, k, n - k + 1)
    return np.where(k == 0, 0.0, bound)


def clopper_pearson_upper(successes, trials, alpha: float):
    """One-sided (1 - alpha) upper bound on p: Beta(1 - alpha; k + 1, n - k) quantile, 1 when k = n."""
    check_alpha(alpha)
    k, n = _check_counts(successes, trials)
    with np.errstate(invalid="ignore"):
        bound = beta.ppf(1.0 - alpha, k + 1, n - k)
    return np.where(k == n, 1.0, bound)


def hoeffding_halfwidth(trials: int, alpha: float) -> float:
    """t with P(mean - E >= t) <= alpha for the mean of `trials` independent values in [0, 1]:
    Hoeffding (1963), exp(-2 n t^2) = alpha, so t = sqrt(ln(1 / alpha) / (2 n))."""
    check_alpha(alpha)
    return float(np.sqrt(np.log(1.0 / alpha) / (2.0 * trials)))


def binomial_pvalue(successes: int, trials: int, p: float = 0.5) -> float:
    """Two-sided exact binomial test p-value of k in n at p (Cohen et al. Algorithm 1, BinomPValue)."""
    if trials == 0:
        return 1.0
    return float(binomtest(int(successes), int(trials), p, alternative="two-sided").pvalue)


PPF_SLACK = 1e-12  # relative; scipy's PhiInv is accurate to a few ulps (~1e-15), far below this


def gaussian_radius(sigma: float, p_a_lower, p_b_upper=None):
    """Certified l2 radius of Gaussian smoothing, Cohen et al. (2019) Theorem 1.

    R = sigma / 2 * (PhiInv(pA) - PhiInv(pB)); with pB = 1 - pA this is sigma * PhiInv(pA).
    Zero where pA <= pB (nothing is certified). It errs low, like the other guarantees: PhiInv(pA) is
    moved down and PhiInv(pB) up by PPF_SLACK of their size and the difference shrunk by PPF_SLACK, so the
    few-ulp errors of PhiInv and of the arithmetic never lift R above its exact value.
    """
    p_a = np.asarray(p_a_lower, dtype=float)
    p_b = 1.0 - p_a if p_b_upper is None else np.asarray(p_b_upper, dtype=float)  # 1 - pA is exact for pA >= 1/2
    phi_a, phi_b = norm.ppf(p_a), norm.ppf(p_b)
    with np.errstate(invalid="ignore"):  # pA = 1 or pB = 0: PhiInv is infinite, and so is the radius
        low_a = np.where(np.isfinite(phi_a), phi_a - PPF_SLACK * np.abs(phi_a), phi_a)
        high_b = np.where(np.isfinite(phi_b), phi_b + PPF_SLACK * np.abs(phi_b), phi_b)
    radius = sigma / 2.0 * (low_a - high_b) * (1.0 - PPF_SLACK)
    return np.where(p_a > p_b, np.maximum(radius, 0.0), 0.0)


def largest_certifiable_radius(sigma, n, alpha):
    """The largest radius CERTIFY can return with n samples at level alpha: every sample votes for cA, so
    pA_lower = alpha^(1/n) (the Clopper-Pearson bound at k = n) and R = sigma PhiInv(alpha^(1/n))."""
    return gaussian_radius(sigma, np.power(alpha, 1.0 / np.asarray(n, dtype=float)))
