"""PixelDP (baselines.pixeldp): its guarantee's cap, and its own softmax-score estimator from the shared CERTIFY pass."""

import numpy as np

from smoothing.guarantees import certified_radius


def test_pixeldp_saturates():
    """eps <= 1 caps PixelDP near 0.57 sigma however close pA is to 1."""
    assert certified_radius("pixeldp", 1.0, 1 - 1e-12) < 0.58


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

