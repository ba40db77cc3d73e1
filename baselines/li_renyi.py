"""Li, Chen, Wang & Carin (NeurIPS 2019, arXiv 1809.03113): the Renyi-divergence guarantee.

For Gaussians D_a(N(x, s^2 I) || N(x + d, s^2 I)) = a ||d||^2 / (2 s^2), so radius r is certified if for
some order a > 1
    a r^2 / (2 sigma^2) < -log(1 - pA - pB + 2 M_{1-a}(pA, pB)),  M_t(u, v) = ((u^t + v^t) / 2)^(1/t),
    R = sup_{a > 1} sigma * sqrt(2 / a * (-log(1 - pA - pB + 2 M_{1-a}(pA, pB)))).
Every order evaluated gives a valid certificate, so the supremum is taken over a fixed dense grid of
orders (it can only err low, and is monotone in pA). The power mean is evaluated in log space, so
pB -> 0 and large orders neither overflow nor return NaN.
"""
import numpy as np

from baselines import register_guarantee

ORDERS = 1.0 + np.logspace(-4, 3, 4000)
ROUNDING_ALLOWANCE = 1e-12


def log_power_mean(log_u: np.ndarray, log_v: np.ndarray, t: np.ndarray) -> np.ndarray:
    """log M_t(u, v) = (logaddexp(t log u, t log v) - log 2) / t, for t < 0 (u or v may be 0)."""
    with np.errstate(invalid="ignore"):
        return (np.logaddexp(t * log_u, t * log_v) - np.log(2.0)) / t


@register_guarantee("li_renyi")
def li_renyi(sigma, p_a, p_b):
    p_a, p_b = np.broadcast_arrays(p_a, p_b)
    with np.errstate(divide="ignore"):  # log 0 = -inf is meant: p_b = 0, or a budget of +inf at p_a = 1
        log_a, log_b = np.log(p_a)[..., None], np.log(p_b)[..., None]
        mean = np.exp(log_power_mean(log_a, log_b, 1.0 - ORDERS))
        budget = -np.log1p(-p_a[..., None] - p_b[..., None] + 2.0 * mean)
    # The budget is a difference of terms near 1: allow for its rounding error, or the square root turns
    # ~1e-16 of noise into a radius of ~1e-6 where pA = pB (an unsound certificate).
    budget = np.where(budget > ROUNDING_ALLOWANCE, budget - ROUNDING_ALLOWANCE, 0.0)
    radius = sigma * np.sqrt(2.0 / ORDERS * budget).max(axis=-1)
    return np.where(p_a > p_b, radius, 0.0)
