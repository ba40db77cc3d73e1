"""The Renyi-divergence guarantee of Li et al. (baselines.li_renyi): below Cohen's and below its own exact formula."""
from decimal import Decimal, localcontext

import numpy as np
import pytest

from baselines.li_renyi import ORDERS, li_renyi_per_order
from baselines.pixeldp import EPSILONS, pixeldp_per_epsilon
from smoothing.guarantees import certified_radius

# Dense sweeps where the textbook evaluations lose their digits: pA -> 1/2 and pA -> 1, pB = 1 - pA.
NEAR_HALF = np.array(sorted({0.5 + j * 10.0 ** -k for k in range(2, 17) for j in range(1, 10)}
                            | {float(np.nextafter(0.5, 1.0)) + i * 2.0 ** -53 for i in range(0, 50, 7)}))


NEAR_ONE = np.array(sorted({1.0 - j * 10.0 ** -k for k in range(2, 16) for j in range(1, 10)}
                           | {1.0 - i * 2.0 ** -53 for i in range(1, 50, 7)}))


SWEEP = np.concatenate([NEAR_HALF, NEAR_ONE])


def exact_li_renyi(sigma: float, p_a: float, p_b: float, order: float) -> Decimal:
    """sigma sqrt(2 / a (-log(1 - pA - pB + 2 M_{1-a}(pA, pB)))) at one order, to 80 digits."""
    with localcontext() as context:
        context.prec = 80
        a, u, v = Decimal(order), Decimal(p_a), Decimal(p_b)
        t = 1 - a
        mean = Decimal(0) if v == 0 else (((t * u.ln()).exp() + (t * v.ln()).exp()) / 2).ln().__truediv__(t).exp()
        budget = -(1 - u - v + 2 * mean).ln()
        return Decimal(sigma) * (2 / a * budget).sqrt()


def exact_pixeldp(sigma: float, p_a: float, p_b: float, epsilon: float) -> Decimal:
    """sigma eps / sqrt(2 log(1.25 (1 + e^eps) / (pA - e^(2 eps) pB))) at one eps, to 80 digits."""
    with localcontext() as context:
        context.prec = 80
        eps, u, v = Decimal(epsilon), Decimal(p_a), Decimal(p_b)
        margin = u - (2 * eps).exp() * v
        if margin <= 0:
            return Decimal(0)
        return Decimal(sigma) * eps / (2 * (Decimal("1.25") * (1 + eps.exp()) / margin).ln()).sqrt()


@pytest.mark.parametrize("per_point,exact,grid", [
    (li_renyi_per_order, exact_li_renyi, ORDERS), (pixeldp_per_epsilon, exact_pixeldp, EPSILONS),
])
def test_never_above_the_exact_formula(per_point, exact, grid):
    """The certified radius is the largest grid point's value; it must not exceed the exact (80-digit)
    value of the guarantee's own formula at that grid point, near pA = 1/2 and pA = 1 included."""
    p_b = np.concatenate([1.0 - SWEEP, [0.0, 0.1, 0.3, 1e-12]])
    p_a = np.concatenate([SWEEP, [0.9, 0.6, 0.35, 0.999]])
    radii = per_point(1.0, p_a, p_b)
    best = radii.argmax(axis=-1)
    for i in range(len(p_a)):
        if radii[i, best[i]] > 0:
            assert Decimal(float(radii[i, best[i]])) <= exact(1.0, p_a[i], p_b[i], grid[best[i]]), (p_a[i], p_b[i])


def test_li_renyi_never_beats_cohen_near_the_edges():
    """Li et al.'s radius is at most Cohen et al.'s tight one on the same (pA, pB), with no allowance;
    near pA = 1/2 it is 2 (pA - 1/2) sigma against sqrt(2 pi) (pA - 1/2) sigma."""
    for sigma in (0.12, 0.25, 1.0):
        li = certified_radius("li-renyi", sigma, SWEEP)
        assert np.all(li <= certified_radius("gaussian", sigma, SWEEP))
        assert np.all(li[SWEEP > 0.5] > 0)
    near = NEAR_HALF[NEAR_HALF - 0.5 < 1e-6]
    np.testing.assert_allclose(certified_radius("li-renyi", 1.0, near), 2 * (near - 0.5), rtol=1e-6)


def test_li_renyi_never_beats_cohen_with_separate_p_b():
    rng = np.random.default_rng(0)
    p_a = np.concatenate([0.5 + 10.0 ** -rng.uniform(1, 15, 2000), 1 - 10.0 ** -rng.uniform(1, 15, 2000)])
    p_b = (1.0 - p_a) * rng.uniform(0, 1, len(p_a)) ** 3
    assert np.all(certified_radius("li-renyi", 1.0, p_a, p_b) <= certified_radius("gaussian", 1.0, p_a, p_b))

