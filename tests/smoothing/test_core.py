"""PREDICT and CERTIFY (smoothing.core) on a model whose smoothed answer is known exactly; bad arguments refused."""
import numpy as np
import pytest
import torch
from scipy.stats import binom

from smoothing.core import ABSTAIN, Smooth


@pytest.mark.parametrize("sigma", [0.0, -0.25, float("nan")])
def test_sigma_must_be_positive(linear_model, sigma):
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        Smooth(linear_model, 2, sigma)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_alpha_outside_unit_interval(smoothed, alpha):
    x = torch.rand(1, 8, 8)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        smoothed.certify(x, 10, 100, alpha, 10)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        smoothed.predict(x, 100, alpha, 10)


def test_n0_larger_than_n(smoothed):
    with pytest.raises(ValueError, match=r"n0 must lie in \[1, n\]"):
        smoothed.certify(torch.rand(1, 8, 8), 1000, 100, 0.001, 10)


@pytest.mark.parametrize("n,batch", [(0, 10), (100, 0)])
def test_sample_sizes_positive(smoothed, n, batch):
    with pytest.raises(ValueError, match="must be positive"):
        smoothed.predict(torch.rand(1, 8, 8), n, 0.001, batch)


@pytest.mark.parametrize("shape", [(4, 4), (2, 1, 8, 8)])
def test_certify_wants_one_image(smoothed, shape):
    with pytest.raises(ValueError, match=r"expected one image shaped \(C, H, W\)"):
        smoothed.certify(torch.rand(shape), 10, 100, 0.001, 10)


def test_certified_radius_never_exceeds_true_distance(linear_model):
    """A sound certificate's radius exceeds the true distance to the boundary only with probability
    <= alpha per input (the Clopper-Pearson failure). Count violations over many inputs."""
    alpha, sigma, inputs = 0.01, 0.5, 120
    distances = torch.linspace(-1.0, 1.0, inputs)
    x = linear_model.points_at(distances)
    smoothed = Smooth(linear_model, 2, sigma, seed=0)
    certificates = smoothed.certify_batch(x, n0=50, n=2000, alpha=alpha, batch_size=4096)
    true_distance = linear_model.distance(x).numpy()
    true_class = (distances > 0).long().numpy()
    violations = sum(
        c.prediction != ABSTAIN and (c.radius > true_distance[i] or c.prediction != true_class[i])
        for i, c in enumerate(certificates)
    )
    # P(Binomial(120, 0.01) >= 6) < 1e-3: a sound procedure fails this test rarely; an unsound one
    # (e.g. the point estimate nA/n instead of the lower bound) fails it about half the time per input.
    assert violations <= binom.isf(1e-3, inputs, alpha)
    assert any(c.prediction != ABSTAIN for c in certificates)


def test_certified_radius_is_close_for_large_n(linear_model):
    sigma, distances = 0.25, torch.tensor([0.1, 0.25, 0.5])
    x = linear_model.points_at(distances)
    smoothed = Smooth(linear_model, 2, sigma, seed=1)
    certificates = smoothed.certify_batch(x, n0=100, n=200_000, alpha=0.001, batch_size=20_000)
    for certificate, distance in zip(certificates, distances.tolist()):
        assert certificate.prediction == 1
        assert distance - 0.03 < certificate.radius <= distance
        assert certificate.counts.sum() == 200_000


def test_certify_matches_its_record(linear_model):
    x = linear_model.points_at(torch.tensor([0.3]))[0]
    smoothed = Smooth(linear_model, 2, 0.25, seed=3)
    prediction, radius = smoothed.certify(x, 100, 1000, 0.001, 256)
    smoothed.manual_seed(3)
    record = smoothed.certify_batch(x[None], 100, 1000, 0.001, 256)[0]
    assert (prediction, radius) == (record.prediction, record.radius)
    assert record.count_a == record.counts[record.top_class]
    assert (record.n0, record.n, record.alpha, record.sigma) == (100, 1000, 0.001, 0.25)


def test_certify_abstains_on_the_boundary(linear_model):
    x = linear_model.points_at(torch.zeros(20))
    smoothed = Smooth(linear_model, 2, 0.5, seed=4)
    certificates = smoothed.certify_batch(x, n0=100, n=1000, alpha=0.01, batch_size=5000)
    assert sum(c.prediction == ABSTAIN for c in certificates) >= 18
    assert all(c.radius == 0.0 for c in certificates if c.prediction == ABSTAIN)


def test_predict_abstains_on_a_coin_flip(linear_model):
    """pA = pB = 1/2: any answer is unsupported, so a non-abstention is an error of rate <= alpha."""
    alpha, trials = 0.05, 300
    x = linear_model.points_at(torch.zeros(1))[0]
    smoothed = Smooth(linear_model, 2, 0.5, seed=5)
    answers = [smoothed.predict(x, 200, alpha, 200) for _ in range(trials)]
    assert sum(a != ABSTAIN for a in answers) <= binom.isf(1e-4, trials, alpha)


def test_predict_rarely_returns_the_wrong_class(linear_model):
    """Slightly on side 1 (pA = Phi(0.05 / 0.5) = 0.54): returning class 0 is wrong; its rate <= alpha."""
    alpha, trials = 0.05, 300
    x = linear_model.points_at(torch.tensor([0.05]))[0]
    smoothed = Smooth(linear_model, 2, 0.5, seed=6)
    answers = np.array([smoothed.predict(x, 300, alpha, 300) for _ in range(trials)])
    assert np.sum(answers == 0) <= binom.isf(1e-4, trials, alpha)
    assert np.sum(answers == 1) > 0


def test_predict_answers_when_clear(linear_model):
    x = linear_model.points_at(torch.tensor([-1.0]))[0]
    assert Smooth(linear_model, 2, 0.25, seed=7).predict(x, 100, 0.001, 50) == 0

