"""Sequential CERTIFY (smoothing.sequential): every scheme sound at any stopping time; peeking is caught."""
import numpy as np
import pytest
import torch
from scipy.stats import binom, norm

from smoothing.core import ABSTAIN, Smooth
from smoothing.sequential import (
    Plan,
    Scheme,
    State,
    certification_grid,
    certify_sequential,
    create_scheme,
    look_schedule,
    overclaims,
    scheme_names,
    simulate,
    table_cell,
)
from smoothing.statistics import clopper_pearson_lower, mixture_lower_bound, mixture_upper_bound

RADII = (0.0, 0.25, 0.5, 0.75)


def test_schedules_and_cells():
    assert look_schedule(200, first=100, ratio=1.5) == [100, 150, 200]
    assert look_schedule(50) == [50]
    assert certification_grid(0.25, 0.25, 100_000, 0.001) == (0.0, 0.25, 0.5, 0.75)  # the cap is 0.953
    assert certification_grid(0.5, 1.0, 100_000, 0.001)[-1] == 3.5
    assert table_cell(0.3, 0.4, RADII) == -1  # pA < 1/2: abstains
    assert [int(table_cell(r, 0.9, RADII)) for r in (0.0, 0.2, 0.25, 0.6, 2.0)] == [0, 0, 1, 2, 3]
    assert scheme_names() == ["fixed", "grid", "mixture", "staged"]


def test_mixture_bounds_hold_at_every_look_and_sit_outside_clopper_pearson():
    """The anytime bounds pay for holding at all looks at once: they lie outside the fixed-n interval."""
    successes = np.array([0, 10, 500, 990, 1000])
    lower, upper = mixture_lower_bound(successes, 1000, 0.001), mixture_upper_bound(successes, 1000, 0.001)
    assert (lower <= clopper_pearson_lower(successes, 1000, 0.001)).all() and lower[0] == 0 and upper[-1] == 1
    assert (lower < successes / 1000).all() or lower[0] == 0
    assert ((upper > successes / 1000) | (successes == 1000)).all()


def failures(scheme: Scheme, plan: Plan, p_a: float, repetitions: int, seed: int) -> tuple[int, np.ndarray]:
    """Simulated certifications of a pA: how many claim more than the truth (pA_lower >= pA; and a claim of
    the grid's threshold p_k is the claim pA > p_k, false at pA = p_k), and the samples they used."""
    state, _ = simulate(scheme, plan, np.full(repetitions, p_a), np.random.default_rng(seed))
    return int(overclaims(state, p_a).sum()), state.used


PLAN = Plan(2000, 0.05, 0.5, certification_grid(0.25, 0.5, 2000, 0.05))


def test_the_futility_threshold_trades_samples_for_cells_never_validity():
    """Plan.predictive only decides when pursuing the next cell stops: a higher threshold stops sooner and
    certifies no more (on the same streams), and fails no more often than alpha allows (its 99.9 % binomial
    quantile over the 1,000 certifications); outside [0, 1) it is refused."""
    p_a = np.repeat([0.5, 0.6, 0.75, 0.9, 0.97], 200)
    runs = {}
    for threshold in (0.0, 0.02, 0.3):
        plan = Plan(2000, 0.05, 0.5, certification_grid(0.25, 0.5, 2000, 0.05), predictive=threshold)
        state, _ = simulate(create_scheme("grid"), plan, p_a, np.random.default_rng(7))
        assert overclaims(state, p_a).sum() <= binom.ppf(0.999, len(p_a), plan.alpha)
        runs[threshold] = state
    assert runs[0.0].used.mean() > runs[0.02].used.mean() > runs[0.3].used.mean()
    assert (runs[0.3].radius <= runs[0.0].radius).all()
    with pytest.raises(ValueError, match="futility threshold must be in"):
        Plan(2000, 0.05, 0.5, (0.0, 0.25), predictive=1.0)


SETTINGS = [0.5, *PLAN.thresholds[1:4], PLAN.thresholds[2] * (1 - 1e-9), 0.93, 0.999]  # 1/2, boundaries, inside


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fixed", "staged", "mixture", "grid"])
@pytest.mark.parametrize("p_a", SETTINGS)
def test_failure_rate_is_at_most_alpha(name, p_a):
    """Over 10^4 simulated certifications per setting, the failure count stays within the binomial
    sampling error of alpha (one-sided, 1e-4 false alarm per setting)."""
    repetitions = 10_000
    failed, used = failures(create_scheme(name), PLAN, p_a, repetitions, seed=int(p_a * 1e6))
    assert failed <= binom.isf(1e-4, repetitions, PLAN.alpha), (name, p_a, failed)
    assert used.max() <= PLAN.n_max


class Peeking(Scheme):
    """Broken on purpose: Clopper-Pearson at the full alpha at every look, stopping at the first one whose
    bound certifies cell 1; each look alone is valid, their union is not."""

    name = "peeking"
    predictive = False

    def update(self, plan: Plan, state: State, t: int) -> None:
        active = ~state.stopped
        lower = clopper_pearson_lower(state.successes[active], t, plan.alpha)
        self._settle(plan, state, active, lower, np.full(active.sum(), 1), t)


@pytest.mark.slow
def test_the_failure_test_catches_uncorrected_peeking():
    repetitions, p_a = 10_000, PLAN.thresholds[1]
    failed, _ = failures(Peeking(), PLAN, p_a, repetitions, seed=7)
    assert failed > binom.isf(1e-4, repetitions, PLAN.alpha)  # several times alpha: the test above can fail


def test_the_grid_certifies_grid_radii_and_the_top_cell_early():
    """pA = 1 - 1e-6 at sigma = 0.25 (n_max = 100,000): the top reachable cell, 0.75, long before n_max."""
    plan = Plan(100_000, 0.001, 0.25, certification_grid(0.25, 0.25, 100_000, 0.001))
    state, votes = simulate(create_scheme("grid"), plan, np.full(200, 1 - 1e-6), np.random.default_rng(0))
    assert set(state.radius) == {0.75} and state.used.max() < 12_000
    fixed = create_scheme("fixed")
    assert (table_cell(0.25 * norm.ppf(clopper_pearson_lower(votes, plan.n_max, plan.alpha)), 1.0, plan.radii) == 3).all()
    assert fixed.looks(plan) == [100_000]


def test_sound_and_saves_samples_on_a_model(linear_model):
    """On the linear model (exact smoothed radius = distance to the boundary) every scheme's radius is
    below the true distance (but for alpha per input), and most inputs stop early."""
    alpha, sigma, inputs = 0.01, 0.5, 20  # the float64 noise of 3,072 pixels dominates: 20 inputs suffice
    x = linear_model.points_at(torch.linspace(-1.0, 1.0, inputs))
    true_distance = linear_model.distance(x).numpy()
    grid = certification_grid(0.25, sigma, 4000, alpha)
    for name in ("staged", "mixture", "grid"):
        smoothed = Smooth(linear_model, 2, sigma, seed=0)
        certificates = [certify_sequential(smoothed, xi, 50, 4000, alpha, 4000, radii=grid, scheme=name) for xi in x]
        violations = sum(c.prediction != ABSTAIN and c.radius > true_distance[i] for i, c in enumerate(certificates))
        assert violations <= binom.isf(1e-3, inputs, alpha), name
        used = np.array([c.n for c in certificates])
        assert used.mean() < 0.7 * 4000 and used.min() < 4000 / 4, name
        assert all(c.counts.sum() == c.n for c in certificates)


def test_the_staged_certificate_is_the_best_stage_bound(linear_model):
    """pA_lower = max over stages of Clopper-Pearson at the Bonferroni levels, recomputed by hand from the
    same noise stream; a grid too fine to settle runs the image to n."""
    x = linear_model.points_at(torch.tensor([0.3]))[0]
    fine = tuple(np.linspace(0, 3, 3001))
    sequential = certify_sequential(Smooth(linear_model, 2, 0.5, seed=1), x, 50, 2000, 0.001, 2000, radii=fine,
                                    scheme="staged")
    assert sequential.n == 2000 and sequential.alpha == 0.001  # the level of the whole procedure, not of a look
    replay = Smooth(linear_model, 2, 0.5, seed=1)
    top = replay.counts(x[None], 50, 2000)[0].argmax()
    votes, used, bounds = 0, 0, []
    sizes = [63, 125, 250, 500, 1000, 2000]
    for size, level in zip(sizes, [0.001 / 10] * 5 + [0.001 / 2]):
        votes += replay.counts(x[None], size - used, 2000)[0][top]
        used = size
        bounds.append(float(clopper_pearson_lower(votes, used, level)))
    assert sequential.p_a_lower == pytest.approx(max(bounds) - sequential.noise_gap)


def test_bad_arguments(linear_model):
    smoothed = Smooth(linear_model, 2, 0.5)
    with pytest.raises(ValueError, match="radii starting at 0"):
        certify_sequential(smoothed, torch.rand(1, 8, 8), 10, 100, 0.01, 10, radii=())
    with pytest.raises(KeyError, match="unknown sequential scheme 'gird'. Did you mean 'grid'"):
        certify_sequential(smoothed, torch.rand(1, 8, 8), 10, 100, 0.01, 10, radii=RADII, scheme="gird")

