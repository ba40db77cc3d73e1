"""Sequential CERTIFY (beyond Cohen et al.): stop sampling an image once its cell of the certified-accuracy
table is settled, with a certificate that stays valid at level alpha whenever the data make us stop.

The table reports, per image, abstention or the largest grid radius r_k <= R (cells -1, 0, 1, ...: cell 0
is "certified, R < r_1"). The votes for cA, one Bernoulli(pA) draw per sample, are looked at after
t_1 < t_2 < ... <= n_max samples. A *scheme* turns the counts at each look into a lower bound on pA (so a
cell) and the best cell still reachable by n_max, and stops when the two agree:

  fixed      Cohen et al.'s CERTIFY: one look at n_max, Clopper-Pearson at level alpha (the reference).
  staged     K = 6 looks n/32, ..., n; Clopper-Pearson at alpha / 2 at the last look and alpha / (2 (K - 1))
             at each earlier one: by the union bound all hold together with probability >= 1 - alpha.
  mixture    an anytime-valid confidence sequence (Robbins' beta mixture, one-sided): for each p0 the
             mixture likelihood ratio M_t(p0) = int_{p0}^1 (q / p0)^S ((1 - q) / (1 - p0))^F dq / (1 - p0)
             is a nonnegative supermartingale while pA <= p0, so by Ville's inequality
             P(exists t: M_t(pA) >= 1 / alpha) <= alpha, and L_t = inf {p0: M_t(p0) < 1 / alpha} is a lower
             bound that holds at every look at once; pA_lower = max_t L_t (any stopping rule).
  grid       decision-focused (after Horvath et al., ICLR 2022): at each grid threshold p_k = Phi(r_k / sigma)
             (p_0 = 1/2) the same mixture test of H0_k: pA <= p_k, each at level alpha_seq = 0.3 alpha. The
             cell is the largest k with H0_0, ..., H0_k all rejected: a wrong cell needs H0_j rejected for the
             first true null j, so it has probability <= alpha_seq without a multiplicity correction (closed
             testing of nested hypotheses). At n_max a Clopper-Pearson bound at level alpha - alpha_seq may
             certify a higher cell (union bound: alpha in all). The certified radius is the grid radius r_k.

Stopping never touches validity, only effort: an image stops when even n_max all-cA samples could not lift
it to the next cell, or when fixed-n CERTIFY on the same stream would reach the next cell with a posterior
predictive chance below Plan.predictive (this can only cost a cell, never certify a wrong one).

The recommended scheme (RECOMMENDED, what `sequential = true` selects) is grid: in `smoothbench
sample-efficiency` on Cohen et al.'s per-image pA it is, of the schemes that change at most 1 % of table
cells at every sigma, the one that saves the most samples at each (mixture saves a little more but moves up
to 2.8 % of cells).

The noise gap of the sampler (smoothing.sampler.noise_tail_gap) is subtracted from every lower bound and
added to every threshold, so the certificate holds for the exact Gaussian.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.stats import beta, binom, norm

from smoothing.core import ABSTAIN, Certificate, Smooth, check_sample_sizes
from smoothing.registry import Registry
from smoothing.sampler import noise_tail_gap
from smoothing.statistics import (
    check_alpha,
    check_sigma,
    clopper_pearson_lower,
    gaussian_radius,
    largest_certifiable_radius,
)

FIRST_LOOK, LOOK_RATIO = 100, 1.1  # looks of the anytime schemes: 100, 110, 121, ... samples, and n_max
PREDICTIVE = 0.02  # stop pursuing the next cell once fixed-n CERTIFY would reach it with a smaller chance
PREDICTIVE_NODES = 32  # posterior quantiles averaged over for that chance
GRID_SHARE = 0.3  # the grid scheme's sequential tests spend alpha_seq = GRID_SHARE * alpha
RECOMMENDED = "grid"  # the scheme `sequential = true` selects (see the module's docstring)
THRESHOLD_SLACK = 1e-12  # Phi(r / sigma) is computed to a few ulps: thresholds are moved up by this (relative)

SCHEMES: Registry["Scheme"] = Registry("sequential scheme", "smoothing.sequential")  # one module per scheme
register_scheme = SCHEMES.register


def certification_grid(step: float, sigma: float, n_max: int, alpha: float) -> tuple[float, ...]:
    """The table's radii 0, step, 2 step, ... up to the largest radius n_max samples can certify."""
    top = float(largest_certifiable_radius(sigma, n_max, alpha))
    return tuple(k * step for k in range(int(top // step) + 1))


def look_schedule(n_max: int, first: int = FIRST_LOOK, ratio: float = LOOK_RATIO) -> list[int]:
    """Sample counts at which an anytime scheme looks: first, first * ratio, ... (rounded up), and n_max."""
    looks, t = [], float(first)
    while math.ceil(t) < n_max:
        looks.append(math.ceil(t))
        t *= ratio
    return looks + [n_max]


def table_cell(radius, p_a_lower, radii: Sequence[float]) -> np.ndarray:
    """-1 where pA_lower < 1/2 (abstention), else the number of grid radii r_k <= radius, minus one."""
    radius, p_a_lower = np.asarray(radius, dtype=float), np.asarray(p_a_lower, dtype=float)
    cells = np.searchsorted(np.asarray(sorted(radii)), radius, side="right") - 1
    return np.where(p_a_lower < 0.5, -1, cells)


def check_futility(predictive: float) -> None:
    """A futility threshold is a chance in [0, 1); 0 never stops for futility."""
    if not 0 <= predictive < 1:
        raise ValueError(f"the futility threshold must be in [0, 1) (0: never stop for futility), got {predictive}")


@dataclass
class Plan:
    """What a scheme certifies: n_max samples at most, level alpha, noise sigma, the table's radii, the
    sampler's noise gap (0 for exact Bernoulli draws), and the futility threshold: stop pursuing the next cell
    once fixed-n CERTIFY would reach it with a chance below `predictive` (a stopping rule: never validity)."""

    n_max: int
    alpha: float
    sigma: float
    radii: tuple[float, ...]
    gap: float = 0.0
    predictive: float = PREDICTIVE
    thresholds: np.ndarray = field(init=False, repr=False)  # p_k, see _thresholds
    fixed_n_counts: np.ndarray = field(init=False, repr=False)  # s_k, see _fixed_n_counts

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_sigma(self.sigma)
        if self.n_max < 1 or not self.radii or min(self.radii) != 0:
            raise ValueError(f"need n_max >= 1 and radii starting at 0, got n_max={self.n_max}, radii={self.radii}")
        check_futility(self.predictive)
        self.radii = tuple(sorted(self.radii))
        self.thresholds = self._thresholds()
        self.fixed_n_counts = self._fixed_n_counts()

    def _fixed_n_counts(self) -> np.ndarray:
        """s_k: the fewest votes of n_max with which fixed-n CERTIFY (Clopper-Pearson at alpha) reaches cell k,
        i.e. clears threshold p_k (n_max + 1 where it cannot)."""
        thresholds = self.thresholds
        counts = binom.isf(self.alpha, self.n_max, thresholds) + 1  # P(Bin(n, p_k) >= s) <= alpha
        counts = np.clip(counts, 0, self.n_max + 1).astype(np.int64)
        # the exact edge, by the bound itself (isf is discrete and may be one off)
        for k, p in enumerate(thresholds):
            while counts[k] > 0 and clopper_pearson_lower(counts[k] - 1, self.n_max, self.alpha) > p:
                counts[k] -= 1
            while counts[k] <= self.n_max and not clopper_pearson_lower(counts[k], self.n_max, self.alpha) > p:
                counts[k] += 1
        return counts

    def _thresholds(self) -> np.ndarray:
        """p_k with pA > p_k  =>  R > r_k for the exact Gaussian: 1/2 for r_0 = 0, Phi(r_k / sigma) moved up by
        THRESHOLD_SLACK (and by the noise gap, since the votes come from the drawn noise)."""
        exact = norm.cdf(np.asarray(self.radii) / self.sigma)
        return np.minimum(np.where(np.asarray(self.radii) == 0, 0.5, exact * (1 + THRESHOLD_SLACK)) + self.gap, 1.0)


@dataclass
class State:
    """Per row (one image, or one simulated repetition): votes for cA, samples used, stopped or not, and
    what the scheme has certified so far."""

    successes: np.ndarray
    used: np.ndarray
    stopped: np.ndarray
    p_a_lower: np.ndarray  # a lower bound on pA for the exact Gaussian, as certified so far
    radius: np.ndarray
    extra: dict = field(default_factory=dict)

    @classmethod
    def start(cls, rows: int) -> "State":
        zeros = np.zeros(rows)
        return cls(np.zeros(rows, dtype=np.int64), np.zeros(rows, dtype=np.int64), np.zeros(rows, dtype=bool),
                   zeros.copy(), zeros.copy())


class Scheme:
    """A sequential scheme: looks(plan), then update(plan, state, t) at each look (state.successes holds the
    votes of the first t samples of every active row), which certifies and marks the rows that stop."""

    name = ""

    def looks(self, plan: Plan) -> list[int]:
        return look_schedule(plan.n_max)

    def update(self, plan: Plan, state: State, t: int) -> None:
        raise NotImplementedError

    predictive = True  # also stop when fixed-n CERTIFY would hardly reach the next cell

    def _settle(self, plan: Plan, state: State, active: np.ndarray, lower: np.ndarray, reachable: np.ndarray,
                t: int) -> None:
        """Record the running best lower bound (of the votes: the noise gap is subtracted here) of the active
        rows; stop those whose cell is the best one more samples could certify (`reachable`), or whose next
        cell fixed-n CERTIFY would hardly reach (fixed_n_reach_chance < plan.predictive), or that reached n_max."""
        state.p_a_lower[active] = np.maximum(state.p_a_lower[active], np.maximum(lower - plan.gap, 0.0))
        state.radius[active] = gaussian_radius(plan.sigma, state.p_a_lower[active])
        now = table_cell(state.radius[active], state.p_a_lower[active], plan.radii)
        settled = now >= reachable
        if self.predictive:
            settled |= fixed_n_reach_chance(plan, state.successes[active], t, now) < plan.predictive
        index = np.flatnonzero(active)
        state.used[index] = t
        state.stopped[index[settled | (t >= plan.n_max)]] = True

    @staticmethod
    def _reachable_cell(plan: Plan, best: np.ndarray) -> np.ndarray:
        """The cell of `best`, a bound on pA (for the exact Gaussian) more samples cannot beat."""
        best = np.clip(best, 0.0, 1.0)
        return table_cell(gaussian_radius(plan.sigma, best), best, plan.radii)


def per_distinct(successes: np.ndarray, function) -> np.ndarray:
    """function(distinct counts) -> one row per count, gathered back to every row of `successes`: rows with
    equal votes (thousands of simulated repetitions) cost one evaluation."""
    values, inverse = np.unique(successes, return_inverse=True)
    return function(values)[inverse.reshape(-1)]


def leading_run(passed: np.ndarray) -> np.ndarray:
    """Per row of a (rows, thresholds) mask, the last index of its leading run of True (-1 where none)."""
    return np.where(passed.all(axis=1), passed.shape[1], passed.argmin(axis=1)) - 1


def fixed_n_reach_chance(plan: Plan, successes: np.ndarray, t: int, cell: np.ndarray) -> np.ndarray:
    """The chance, as far as the data show, that fixed-n CERTIFY on the same stream would reach cell + 1: the
    posterior predictive probability (uniform prior on pA, so pA | data ~ Beta(S + 1, F + 1)) that the n_max - t
    samples left bring the votes it needs (Plan.fixed_n_counts), by quadrature over posterior quantiles. 0 past
    the grid. A stopping rule only: acting on it can cost a cell, never validity."""
    following = cell + 1
    beyond = following >= len(plan.thresholds)
    needed = plan.fixed_n_counts[np.minimum(following, len(plan.thresholds) - 1)] - successes
    rest = plan.n_max - t
    quantiles = (np.arange(PREDICTIVE_NODES) + 0.5) / PREDICTIVE_NODES
    posterior = per_distinct(successes, lambda s: beta.ppf(quantiles[None, :], s[:, None] + 1.0, (t - s)[:, None] + 1.0))
    chance = binom.sf(needed[:, None] - 1, rest, posterior).mean(axis=1)
    return np.where(beyond, 0.0, np.where(needed <= 0, 1.0, np.where(needed > rest, 0.0, chance)))


def overclaims(state: State, p_a) -> np.ndarray:
    """Rows whose certificate claims more than the truth pA: a certified pA_lower >= pA (the grid's claim of
    threshold p_k is "pA > p_k", false at pA = p_k; a Clopper-Pearson bound equal to pA is the measure-zero edge)."""
    return (state.p_a_lower > 0) & (state.p_a_lower >= np.asarray(p_a, dtype=float))


def create_scheme(name: str) -> Scheme:
    return SCHEMES.create(name)


def scheme_names() -> list[str]:
    return SCHEMES.names()


def run_scheme(scheme: Scheme, plan: Plan, rows: int, draw) -> State:
    """Run `scheme` on `rows` streams of cA votes: draw(active, count) returns the votes of `count` more
    samples of each active row (a sampler, or Bernoulli draws in a simulation)."""
    state = State.start(rows)
    used = 0
    for look in scheme.looks(plan):
        active = ~state.stopped
        if not active.any():
            break
        state.successes[active] += draw(active, look - used)
        used = look
        scheme.update(plan, state, look)
    return state


def simulate(scheme: Scheme, plan: Plan, p_a: np.ndarray, rng: np.random.Generator) -> tuple[State, np.ndarray]:
    """`scheme` on Bernoulli(pA) vote streams, one row per entry of p_a (vectorised: many images, many
    repetitions), and the votes fixed-n CERTIFY counts on the same streams (their first n_max samples)."""
    p_a = np.asarray(p_a, dtype=float)
    votes = np.zeros(len(p_a), dtype=np.int64)
    drawn = [0]

    def draw(active: np.ndarray, count: int) -> np.ndarray:
        more = rng.binomial(count, p_a)  # every stream advances, stopped or not
        votes[:] += more
        drawn[0] += count
        return more[active]

    state = run_scheme(scheme, plan, len(p_a), draw)
    votes += rng.binomial(plan.n_max - drawn[0], p_a)
    return state, votes


def certify_sequential(
    smoothed: Smooth, x: torch.Tensor, n0: int, n: int, alpha: float, batch_size: int, *,
    radii: Sequence[float], scheme: str = RECOMMENDED,
) -> Certificate:
    """CERTIFY one image (C, H, W) with `scheme`, stopping once its cell of the table over `radii` is
    settled. `Certificate.n` is the number of estimation samples used and `Certificate.alpha` is alpha: the
    certificate is wrong with probability at most alpha whenever the scheme stops (the scheme's guarantee), not
    at the smaller level of the one bound it reports."""
    check_alpha(alpha)
    check_sample_sizes(n, batch_size, n0)
    chosen = create_scheme(scheme)
    images = smoothed.one_image(x)
    started = time.perf_counter()
    top_class = int(smoothed.counts(images, n0, batch_size)[0].argmax())
    plan = Plan(n, alpha, smoothed.sigma, tuple(radii), noise_tail_gap(images[0].numel()))
    counts = np.zeros(smoothed.num_classes, dtype=np.int64)

    def draw(active: np.ndarray, count: int) -> np.ndarray:
        more = smoothed.counts(images, count, batch_size)[0]
        counts[:] += more
        return np.array([more[top_class]])

    state = run_scheme(chosen, plan, 1, draw)
    p_a_lower = float(state.p_a_lower[0])
    return Certificate(
        prediction=top_class if p_a_lower >= 0.5 else ABSTAIN, radius=float(state.radius[0]), p_a_lower=p_a_lower,
        top_class=top_class, counts=counts, n0=n0, n=int(state.used[0]), alpha=plan.alpha, sigma=smoothed.sigma,
        seconds=time.perf_counter() - started, noise_gap=plan.gap,
    )
