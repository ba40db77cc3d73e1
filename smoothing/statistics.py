"""The confidence bounds and tests of Cohen, Rosenfeld & Kolter (ICML 2019), in one place.

All functions accept numpy arrays (vectorised) or plain numbers.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import betaln, xlog1py, xlogy
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


def mixture_log_evidence(successes, trials, p0, a=1.0, b=1.0):
    """log M_t(p0), the evidence against pA <= p0 of a mixture over the alternatives q > p0 with prior
    Beta(a, b) truncated to (p0, 1) (Robbins 1970; a = b = 1: uniform):
        M_t(p0) = E_q[(q / p0)^S ((1 - q) / (1 - p0))^F],  F = t - S,
                = B(S + a, F + b) P(Beta(S + a, F + b) > p0) / (B(a, b) P(Beta(a, b) > p0) p0^S (1 - p0)^F).
    For every pA <= p0 it is a nonnegative supermartingale starting at 1 (each factor has mean <= 1 for
    q > p0 >= pA), so by Ville's inequality P(exists t: M_t(p0) >= 1 / alpha) <= alpha: rejecting when it
    reaches 1 / alpha is a level-alpha test at any stopping time. Broadcasts; -inf where p0 >= 1."""
    s, t, p0, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (successes, trials, p0, a, b)))
    f = t - s
    inside = p0 < 1
    q0 = np.where(inside, p0, 0.5)
    with np.errstate(divide="ignore"):
        tail = beta.logsf(q0, s + a, f + b)  # log P(Beta(S + a, F + b) > p0), -inf where it underflows
        value = (betaln(s + a, f + b) - betaln(a, b) + tail - beta.logsf(q0, a, b)
                 - xlogy(s, q0) - xlog1py(f, -q0))
    return np.where(inside, value, -np.inf)


def mixture_log_evidence_below(successes, trials, p0):
    """The mirrored evidence against pA >= p0 (mixture over q < p0): its Ville bound gives upper bounds."""
    s, t, p0 = np.broadcast_arrays(np.asarray(successes, dtype=float), np.asarray(trials, dtype=float),
                                   np.asarray(p0, dtype=float))
    return mixture_log_evidence(t - s, t, 1.0 - p0)


def _bisect(evidence, low, high, threshold: float, rising: bool, steps: int = 64):
    """The boundary in [low, high] where evidence(p) crosses `threshold`, kept on the side where it is >=
    threshold (rejected): `rising` evidence rejects above the boundary, falling evidence below it."""
    for _ in range(steps):
        middle = (low + high) / 2
        rejected = evidence(middle) >= threshold
        if rising:
            high, low = np.where(rejected, middle, high), np.where(rejected, low, middle)
        else:
            low, high = np.where(rejected, middle, low), np.where(rejected, high, middle)
    return high if rising else low


def _per_distinct_count(function, successes, trials: int, alpha: float):
    """function(distinct successes, trials, alpha) evaluated once per distinct count, broadcast back."""
    check_alpha(alpha)
    values, inverse = np.unique(np.asarray(successes, dtype=np.int64), return_inverse=True)
    return function(values.astype(float), float(trials), alpha)[inverse].reshape(np.shape(successes))


def mixture_lower_bound(successes, trials: int, alpha: float):
    """Anytime-valid lower bound: inf {p0 : M_t(p0) < 1 / alpha} (mixture_log_evidence). Every p0 below it is
    rejected at level alpha, so P(exists t: pA < L_t) <= alpha and max_t L_t is valid at any stopping time."""
    def bound(s, t, a):
        p_hat = s / t  # M_t(p_hat) <= 1: the bound lies in [0, p_hat], where the evidence falls with p0
        evidence = lambda p: mixture_log_evidence(s, t, p)
        return np.where(s > 0, _bisect(evidence, np.zeros_like(s), p_hat, math.log(1 / a), rising=False), 0.0)

    return _per_distinct_count(bound, successes, trials, alpha)


def mixture_upper_bound(successes, trials: int, alpha: float):
    """Anytime-valid upper bound: sup {p0 : the mirrored evidence against pA >= p0 < 1 / alpha}."""
    def bound(s, t, a):
        evidence = lambda p: mixture_log_evidence_below(s, t, p)
        return np.where(s < t, _bisect(evidence, s / t, np.ones_like(s), math.log(1 / a), rising=True), 1.0)

    return _per_distinct_count(bound, successes, trials, alpha)
