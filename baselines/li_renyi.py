"""Li, Chen, Wang & Carin (NeurIPS 2019, arXiv 1809.03113): the Renyi-divergence guarantee.

For Gaussians D_a(N(x, s^2 I) || N(x + d, s^2 I)) = a ||d||^2 / (2 s^2), so radius r is certified if for
some order a > 1
    a r^2 / (2 sigma^2) < -log(1 - pA - pB + 2 M_{1-a}(pA, pB)),  M_t(u, v) = ((u^t + v^t) / 2)^(1/t),
    R = sup_{a > 1} sigma * sqrt(2 / a * (-log(1 - pA - pB + 2 M_{1-a}(pA, pB)))).
Every order evaluated gives a valid certificate, so the supremum is taken over a fixed dense grid of
orders (it can only err low, and is monotone in pA).

Numerics. The budget is -log of a number near 1 (pA near 1/2) or near 0 (pA near 1), and the textbook
evaluation loses most digits in both places. Here it is rewritten so that every step adds terms of one
sign (no cancellation): with s = pA + pB, e = (pA - pB) / s and t = 1 - a < 0, homogeneity of the power
mean and (1 + e)^t + (1 - e)^t = 2 (1 - e^2)^(t/2) cosh(t atanh e) give
    log(2 M_t(pA, pB) / s) = log1p(-e^2) / 2 + log cosh(t atanh e) / t =: m <= 0,
    1 - pA - pB + 2 M = 1 + s expm1(m) = (1 - s) + s exp(m),
where both terms of m are <= 0 (near e = 1, 1 - e^2 = 4 pA pB / s^2 and atanh e = log(pA / pB) / 2
are taken from pA and pB directly); the budget is -log1p(s expm1(m)), or -log((1 - s) + s exp(m)) once that
number is below 1/2. Each elementary function is correct to a few ulps, so the computed budget is within
~1e-14 relative of its exact value; shrinking it by BUDGET_SAFETY (1e-12 relative) makes every grid
point's radius at most the exact value of the formula at that order.
"""
import numpy as np

from smoothing.guarantees import register_guarantee

ORDERS = 1.0 + np.logspace(-4, 3, 4000)
BUDGET_SAFETY = 1.0 - 1e-12  # relative; far above the ~1e-14 evaluation error (see the module docstring)


def log_cosh(y: np.ndarray) -> np.ndarray:
    """log cosh(y) to a few ulps: log1p(2 sinh^2(y / 2)) for |y| <= 20 (no cancellation near 0), else
    |y| + log1p(exp(-2 |y|)) - log 2 (no overflow)."""
    y = np.abs(y)
    with np.errstate(over="ignore"):
        small = np.log1p(2.0 * np.sinh(np.minimum(y, 20.0) / 2.0) ** 2)
    return np.where(y <= 20.0, small, y + np.log1p(np.exp(-2.0 * y)) - np.log(2.0))


def renyi_budgets(p_a: np.ndarray, p_b: np.ndarray, orders: np.ndarray = ORDERS) -> np.ndarray:
    """-log(1 - pA - pB + 2 M_{1-a}(pA, pB)) for each order a (last axis), pA > pB >= 0, pA + pB <= 1."""
    p_a, p_b = p_a[..., None], p_b[..., None]
    t = 1.0 - orders
    total = p_a + p_b
    with np.errstate(divide="ignore", invalid="ignore"):  # pB = 0: log 0 = -inf, so m = -inf (M = 0)
        e = (p_a - p_b) / total
        central = e * e < 0.5  # e from pA - pB; near e = 1, 1 - e^2 and atanh e from pA / pB instead
        log_1_minus_e2 = np.where(central, np.log1p(-e * e), np.log(4.0 * p_a * p_b / total**2))
        atanh_e = np.where(central, np.arctanh(np.where(central, e, 0.0)), np.log(p_a / p_b) / 2.0)
        m = log_1_minus_e2 / 2.0 + log_cosh(t * atanh_e) / t
        near_one = -np.log1p(total * np.expm1(m))
        rest = np.maximum((1.0 - p_a) - p_b, 0.0)  # 1 - s, >= 0; rounded up to 0 is the conservative side
        near_zero = -np.log(rest + total * np.exp(m))
    return np.where(total * np.expm1(m) > -0.5, near_one, near_zero)


def li_renyi_per_order(sigma: float, p_a: np.ndarray, p_b: np.ndarray, orders: np.ndarray = ORDERS) -> np.ndarray:
    """The radius certified at each order a (last axis); 0 where pA <= pB."""
    p_a, p_b = np.broadcast_arrays(np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float))
    valid = p_a > p_b
    budget = renyi_budgets(np.where(valid, p_a, 1.0), np.where(valid, p_b, 0.0), orders)
    radius = sigma * np.sqrt(2.0 / orders * np.maximum(budget, 0.0) * BUDGET_SAFETY)
    return np.where(valid[..., None], radius, 0.0)


@register_guarantee("li-renyi")
def li_renyi(sigma, p_a, p_b):
    return li_renyi_per_order(sigma, p_a, p_b).max(axis=-1)
