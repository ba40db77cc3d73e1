"""The confidence bounds and tests (smoothing.statistics): coverage, closed forms, exact values."""
import mpmath
import numpy as np
import pytest
from scipy.stats import binom, norm

from smoothing.statistics import (
    binomial_pvalue,
    clopper_pearson_lower,
    clopper_pearson_upper,
    gaussian_radius,
)


@pytest.mark.parametrize("p", [0.5, 0.8, 0.95, 0.99])
@pytest.mark.parametrize("n", [20, 100, 1000])
def test_lower_bound_coverage(p, n):
    """Over many binomial draws, P(p_lower > p) <= alpha (within simulation error)."""
    alpha, draws = 0.05, 40_000
    successes = np.random.default_rng(0).binomial(n, p, size=draws)
    failures = np.mean(clopper_pearson_lower(successes, n, alpha) > p)
    assert failures <= alpha + 4 * np.sqrt(alpha * (1 - alpha) / draws)


@pytest.mark.parametrize("p", [0.01, 0.2, 0.5])
def test_upper_bound_coverage(p):
    alpha, draws, n = 0.05, 40_000, 200
    successes = np.random.default_rng(1).binomial(n, p, size=draws)
    failures = np.mean(clopper_pearson_upper(successes, n, alpha) < p)
    assert failures <= alpha + 4 * np.sqrt(alpha * (1 - alpha) / draws)


def test_lower_bound_closed_forms():
    # k = n: P(all n succeed) = p^n = alpha at the bound, so p_lower = alpha^(1/n).
    assert clopper_pearson_lower(100, 100, 0.001) == pytest.approx(0.001 ** (1 / 100))
    assert clopper_pearson_lower(0, 100, 0.001) == 0.0
    assert clopper_pearson_upper(0, 100, 0.001) == pytest.approx(1 - 0.001 ** (1 / 100))
    # Defining property: p_lower is the p at which P(X >= k | n, p) = alpha (binomial tail, not beta).
    for k, n in [(99_990, 100_000), (700, 1000), (3, 20)]:
        assert binom.sf(k - 1, n, clopper_pearson_lower(k, n, 0.001)) == pytest.approx(0.001, rel=1e-6)
        assert binom.cdf(k, n, clopper_pearson_upper(k, n, 0.001)) == pytest.approx(0.001, rel=1e-6)


def test_lower_bound_is_not_the_point_estimate():
    """An unsound 'bound' equal to k/n would fail coverage; the real one sits below it."""
    k, n = np.arange(1, 100), 100
    assert np.all(clopper_pearson_lower(k, n, 0.001) < k / n)


def test_gaussian_radius_values():
    assert gaussian_radius(1.0, 0.99) == pytest.approx(2.3263, abs=1e-4)
    assert gaussian_radius(0.5, 0.9) == pytest.approx(0.5 * norm.ppf(0.9))
    assert gaussian_radius(1.0, 0.5) == 0.0
    assert gaussian_radius(1.0, 0.3) == 0.0
    assert gaussian_radius(1.0, 0.8, 0.1) == pytest.approx(0.5 * (norm.ppf(0.8) - norm.ppf(0.1)))
    assert gaussian_radius(1.0, 0.4, 0.45) == 0.0


def test_binomial_pvalue():
    assert binomial_pvalue(10, 10) == pytest.approx(2 * 0.5**10)
    assert binomial_pvalue(5, 10) == pytest.approx(1.0)
    assert binomial_pvalue(0, 0) == 1.0


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5])
def test_alpha_outside_unit_interval(alpha):
    with pytest.raises(ValueError, match="alpha must lie in"):
        clopper_pearson_lower(5, 10, alpha)


def test_impossible_counts():
    with pytest.raises(ValueError, match="successes <= trials"):
        clopper_pearson_lower(11, 10, 0.01)


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_hoeffding_coverage(n):
    """Means of n values in [0, 1] (skewed Beta): P(mean - t > E) <= alpha."""
    from smoothing.statistics import hoeffding_halfwidth

    alpha, draws = 0.05, 20_000
    values = np.random.default_rng(2).beta(0.5, 2.0, size=(draws, n))
    failures = np.mean(values.mean(axis=1) - hoeffding_halfwidth(n, alpha) > 0.5 / 2.5)
    assert failures <= alpha
    assert hoeffding_halfwidth(n, alpha) == pytest.approx(np.sqrt(np.log(20) / (2 * n)))


def exact_gaussian_radius(sigma: float, p_a: float, p_b: float) -> mpmath.mpf:
    """sigma / 2 (PhiInv(pA) - PhiInv(pB)) at 60 digits, of the exact binary values of the floats."""
    with mpmath.workdps(60):
        phi_inv = [mpmath.sqrt(2) * mpmath.erfinv(2 * mpmath.mpf(p) - 1) for p in (p_a, p_b)]
        return mpmath.mpf(sigma) / 2 * (phi_inv[0] - phi_inv[1])


def test_gaussian_radius_never_exceeds_its_exact_value():
    """scipy's PhiInv is off by a few ulps; the plain formula exceeded the exact radius by 1-2 ulps at most
    of these points. Both forms: pB = 1 - pA, and a separate pB (also where both PhiInv are negative and
    their difference cancels)."""
    rng = np.random.default_rng(0)
    p_a = np.concatenate([0.5 + np.geomspace(1e-15, 0.5, 300)[:-1], 1 - np.geomspace(1e-15, 0.5, 300),
                          rng.uniform(0.5, 1.0, 300)])
    for sigma in (0.12, 0.25, 0.37, 1.0):
        radius = gaussian_radius(sigma, p_a)
        assert all(r <= exact_gaussian_radius(sigma, p, 1 - p) for p, r in zip(p_a, radius) if r > 0)
    pairs = [(a, b * a) for a, b in zip(rng.uniform(0.01, 0.999, 300), rng.uniform(0.5, 1 - 1e-9, 300))]
    pairs = [(a, min(b, 1 - a)) for a, b in pairs]
    radius = gaussian_radius(0.5, *map(np.array, zip(*pairs)))
    assert all(r <= exact_gaussian_radius(0.5, a, b) for (a, b), r in zip(pairs, radius) if r > 0)
    assert (radius > 0).sum() > 250

