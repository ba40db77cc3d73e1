import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np
import pytest
import torch
from scipy.stats import binom

from smoothing.core import ABSTAIN, Smooth
from smoothing.sequential import certify_sequential, stage_sizes
from smoothing.statistics import clopper_pearson_lower
from test_core import points_at_distances


def test_stage_sizes():
    assert stage_sizes(10_000, 4) == [1250, 2500, 5000, 10_000]
    assert stage_sizes(5, 4) == [1, 2, 3, 5]


def test_sound_and_saves_samples(linear_model):
    """Radius <= true distance except with probability alpha per input; boundary points stop early."""
    alpha, sigma, inputs = 0.01, 0.5, 60
    distances = torch.linspace(-1.0, 1.0, inputs)
    x = points_at_distances(linear_model, distances)
    smoothed = Smooth(linear_model, 2, sigma, seed=0)
    certificates = [certify_sequential(smoothed, xi, 50, 4000, alpha, 4000, max_radius=0.6) for xi in x]
    true_distance = linear_model.distance(x).numpy()
    violations = sum(c.prediction != ABSTAIN and c.radius > true_distance[i] for i, c in enumerate(certificates))
    assert violations <= binom.isf(1e-3, inputs, alpha)
    used = np.array([c.n for c in certificates])
    assert used.min() < 4000 and used.mean() < 3000  # near the boundary and far from it, it stops early
    assert all(c.counts.sum() == c.n for c in certificates)


def test_full_length_run_uses_the_bonferroni_level(linear_model):
    """With tolerance 0 and no target it runs to n and equals CERTIFY at level alpha / K."""
    x = points_at_distances(linear_model, torch.tensor([0.3]))[0]
    sequential = certify_sequential(Smooth(linear_model, 2, 0.5, seed=1), x, 50, 2000, 0.001, 2000, tolerance=0.0)
    assert sequential.n == 2000
    assert sequential.p_a_lower == pytest.approx(float(clopper_pearson_lower(sequential.count_a, 2000, 0.001 / 4)))
    full = Smooth(linear_model, 2, 0.5, seed=1).certify_batch(x[None], 50, 2000, 0.001 / 4, 2000)[0]
    assert sequential.radius == pytest.approx(full.radius, abs=0.05)


def test_bad_arguments(linear_model):
    smoothed = Smooth(linear_model, 2, 0.5)
    with pytest.raises(ValueError, match="stages must be >= 1"):
        certify_sequential(smoothed, torch.rand(1, 4, 4), 10, 100, 0.01, 10, stages=0)
