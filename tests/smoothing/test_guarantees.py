"""The guarantees side by side (smoothing.guarantees): published points, monotone, Cohen's the largest."""

import numpy as np
import pytest

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

