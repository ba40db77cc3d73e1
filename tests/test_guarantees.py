from decimal import Decimal, localcontext

import numpy as np
import pytest

from baselines.li_renyi import ORDERS, li_renyi_per_order
from baselines.pixeldp import EPSILONS, pixeldp_per_epsilon
from bench.report.bounds import bounds_frame
from smoothing.guarantees import certified_radius, guarantee_names

GRID = np.linspace(0.0, 1.0, 2001)[:-1]  # pA in [0, 1), pB = 1 - pA


def test_registered():
    assert {"gaussian", "li-renyi", "pixeldp"} <= set(guarantee_names())


@pytest.mark.parametrize("p_a,cohen,li,pixeldp", [
    (0.9, 1.2816, 1.0319, 0.3903), (0.99, 2.3263, 1.9080, 0.5549), (0.999, 3.0902, 2.5757, 0.5689),
])
def test_published_points(p_a, cohen, li, pixeldp):
    """Cohen et al. (2019) Figure 5 (left), sigma = 1, pB = 1 - pA; all radii scale linearly with sigma."""
    for sigma in (1.0, 0.25):
        assert certified_radius("gaussian", sigma, p_a) == pytest.approx(sigma * cohen, abs=1e-4)
        assert certified_radius("li-renyi", sigma, p_a) == pytest.approx(sigma * li, abs=1e-4)
        assert certified_radius("pixeldp", sigma, p_a) == pytest.approx(sigma * pixeldp, abs=1e-4)


@pytest.mark.parametrize("name", ["gaussian", "li-renyi", "pixeldp"])
def test_monotone_zero_at_threshold_and_below_cohen(name):
    radius = certified_radius(name, 0.5, GRID)
    assert np.all(np.diff(radius) >= 0)
    assert np.all(radius[GRID <= 0.5] == 0) and np.all(radius[GRID > 0.51] > 0)
    assert np.all(radius <= certified_radius("gaussian", 0.5, GRID) + 1e-12)


@pytest.mark.parametrize("name", ["li-renyi", "pixeldp"])
def test_below_cohen_with_separate_p_b(name):
    p_a, p_b = np.meshgrid(np.linspace(0.01, 0.99, 99), np.linspace(0.0, 0.99, 100))
    valid = p_a + p_b <= 1
    radius = certified_radius(name, 1.0, p_a[valid], p_b[valid])
    assert np.all(radius <= certified_radius("gaussian", 1.0, p_a[valid], p_b[valid]) + 1e-12)
    assert np.all(radius[p_a[valid] <= p_b[valid]] == 0)


@pytest.mark.parametrize("name", ["gaussian", "li-renyi", "pixeldp"])
def test_extremes_are_finite(name):
    p_a = np.array([1 - 1e-15, 1 - 1e-9, 0.999999, 0.5 + 1e-9])
    with np.errstate(all="raise"):  # the guarantees must handle their own edge cases
        radius = certified_radius(name, 1.0, p_a, np.zeros_like(p_a) if name != "gaussian" else None)
    assert np.all(np.isfinite(radius)) and np.all(radius >= 0)


def test_pixeldp_saturates():
    """eps <= 1 caps PixelDP near 0.57 sigma however close pA is to 1."""
    assert certified_radius("pixeldp", 1.0, 1 - 1e-12) < 0.58


@pytest.mark.parametrize("args,message", [
    ((0.0, 0.9), "sigma must be a positive number"),
    ((1.0, 1.2), r"p_a must lie in \[0, 1\]"),
    ((1.0, -0.1), r"p_a must lie in \[0, 1\]"),
    ((1.0, 0.9, 0.3), "p_a \\+ p_b > 1"),
])
def test_bad_inputs(args, message):
    with pytest.raises(ValueError, match=message):
        certified_radius("li-renyi", *args)


def test_unknown_guarantee():
    with pytest.raises(KeyError, match="unknown guarantee 'pixel_dp'. Did you mean 'pixeldp'"):
        certified_radius("pixel_dp", 1.0, 0.9)


def test_bounds_frame():
    frame = bounds_frame()
    assert len(frame) == 3 * 3 * 7
    assert set(frame.columns) == {"guarantee", "sigma", "p_a", "p_b", "radius", "ratio_to_gaussian"}
    assert (frame[frame.guarantee == "gaussian"].ratio_to_gaussian == 1).all()
    assert (frame.ratio_to_gaussian <= 1 + 1e-12).all()


def test_radii_from_one_sampling_pass(linear_model):
    import torch

    from smoothing.core import ABSTAIN, Smooth
    from smoothing.guarantees import radii_from_certificate

    x = linear_model.points_at(torch.tensor([0.0, 0.2, 0.6]))
    certificates = Smooth(linear_model, 2, 0.5, seed=0).certify_batch(x, 100, 5000, 0.001, 5000)
    distances = linear_model.distance(x).numpy()
    for certificate, distance in zip(certificates, distances):
        radii = radii_from_certificate(certificate)
        assert radii["gaussian"] == pytest.approx(certificate.radius)
        assert radii["pixeldp"] <= radii["li-renyi"] <= radii["gaussian"] <= distance
        if certificate.prediction == ABSTAIN:
            assert set(radii.values()) == {0.0}
    assert certificates[0].prediction == ABSTAIN and certificates[2].prediction == 1


def test_pixeldp_with_its_own_score_estimator(linear_model):
    import torch

    from baselines.pixeldp import certify_with_scores
    from smoothing.core import Smooth

    x = linear_model.points_at(torch.tensor([0.0, 0.5, 2.0, -2.0]))
    smoothed = Smooth(linear_model, 2, 0.5, seed=0)
    results = certify_with_scores(smoothed, x, 5000, 0.001, 5000)
    distances = linear_model.distance(x).numpy()
    assert results[0] == (-1, 0.0)
    assert results[2][0] == 1 and results[3][0] == 0
    for (prediction, radius), distance in zip(results, distances):
        assert radius <= certified_radius("pixeldp", 0.5, 1.0) and radius <= distance
    assert results[2][1] > 0.2  # far from the boundary PixelDP nears its 0.57 sigma ceiling


def test_score_sums_add_up(linear_model):
    import torch

    from smoothing.sampler import NoiseSampler

    sums = NoiseSampler(linear_model, 2, 0.5, seed=0).tally(torch.rand(3, 1, 8, 8), 700, 256, scores=True)[1]
    assert sums.shape == (3, 2)
    np.testing.assert_allclose(sums.sum(axis=1), 700, rtol=1e-9)


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


def test_pixeldp_scores_certifier_shares_the_certify_pass(linear_model):
    """PixelDP's own estimator as a suite certifier: the softmax score sums come from the same n samples
    that CERTIFY counts, and its radius is still below the true distance and PixelDP's ceiling."""
    import torch

    from baselines.pixeldp import certify_from_score_sums
    from smoothing.certifiers import create_certifier
    from smoothing.core import Smooth

    x = linear_model.points_at(torch.tensor([0.0, 0.5, 2.0, -2.0]))
    certificates = Smooth(linear_model, 2, 0.5, seed=0).certify_batch(x, 100, 5000, 0.001, 5000, score_sums=True)
    certifier = create_certifier("pixeldp-scores")
    assert certifier.needs_scores and certifier.kind == "sampling"
    for certificate, distance in zip(certificates, linear_model.distance(x).numpy()):
        np.testing.assert_allclose(certificate.score_sums.sum(), 5000, rtol=1e-9)
        prediction, radius = certifier(certificate)
        assert (prediction, radius) == certify_from_score_sums(certificate.score_sums, 5000, 0.001, 0.5,
                                                               certificate.noise_gap)
        assert radius <= min(distance, certified_radius("pixeldp", 0.5, 1.0))
    assert certifier(certificates[2])[0] == 1 and certifier(certificates[3])[0] == 0
    plain = Smooth(linear_model, 2, 0.5, seed=0).certify_batch(x, 100, 5000, 0.001, 5000)
    assert [c.counts.tolist() for c in plain] == [c.counts.tolist() for c in certificates]  # same samples
