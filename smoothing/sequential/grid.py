"""Decision-focused sequential tests of "R >= r_k" along the table's grid (after Horvath et al., ICLR 2022)."""
from __future__ import annotations

import math

import numpy as np

from smoothing.sequential import (
    GRID_SHARE,
    Plan,
    Scheme,
    State,
    fixed_n_reach_chance,
    leading_run,
    per_distinct,
    register_scheme,
)
from smoothing.statistics import clopper_pearson_lower, mixture_log_evidence

CONCENTRATION = 5.0  # the second prior component Beta(a, 1) on (p_k, 1), a = CONCENTRATION / (1 - p_k): near 1


def grid_log_evidence(successes: np.ndarray, trials, thresholds: np.ndarray) -> np.ndarray:
    """Evidence against pA <= p_k, (rows, thresholds): the mixture test with an equal mixture of two priors on
    q > p_k, uniform (power for pA inside a cell) and Beta(CONCENTRATION / (1 - p_k), 1) (power for pA near 1,
    the images of the top cells). A mixture of test supermartingales is one."""
    p0 = thresholds[None, :]
    concentrated = np.minimum(CONCENTRATION / np.maximum(1.0 - p0, 1e-300), 1e12)

    def evidence(distinct: np.ndarray) -> np.ndarray:
        s = distinct[:, None]
        return np.logaddexp(mixture_log_evidence(s, trials, p0),
                            mixture_log_evidence(s, trials, p0, concentrated, 1.0)) - math.log(2)

    return per_distinct(successes, evidence)


@register_scheme("grid")
class Grid(Scheme):
    """Decision-focused: a mixture test of pA <= p_k at each grid threshold at level GRID_SHARE * alpha, a
    Clopper-Pearson bound at the remaining level at n_max; the certified radius is a grid radius."""

    name = "grid"

    def update(self, plan: Plan, state: State, t: int) -> None:
        active = ~state.stopped
        index = np.flatnonzero(active)
        sequential_level = GRID_SHARE * plan.alpha
        final_level = plan.alpha - sequential_level
        thresholds = plan.thresholds
        successes = state.successes[active]
        rejected = state.extra.setdefault("rejected", np.zeros((len(state.used), len(thresholds)), dtype=bool))
        rejected[index] |= grid_log_evidence(successes, t, thresholds) >= math.log(1 / sequential_level)
        cell = leading_run(rejected[index])  # closed testing: the leading run of rejected thresholds
        if t >= plan.n_max:  # the last look: Clopper-Pearson at the rest of alpha may certify more
            final_lower = clopper_pearson_lower(successes, t, final_level)
            cell = np.maximum(cell, (final_lower[:, None] > thresholds[None, :]).sum(axis=1) - 1)
        # The best cell reachable: the thresholds n_max all-cA samples would let the test or the final bound pass.
        all_votes = successes + (plan.n_max - t)
        could = grid_log_evidence(all_votes, plan.n_max, thresholds) >= math.log(1 / sequential_level)
        could |= clopper_pearson_lower(all_votes, plan.n_max, final_level)[:, None] > thresholds[None, :]
        settled = (cell >= leading_run(could)) | (fixed_n_reach_chance(plan, successes, t, cell) < plan.predictive)
        p_a_lower = np.where(cell >= 0, thresholds[np.maximum(cell, 0)] - plan.gap, 0.0)
        state.p_a_lower[index] = np.maximum(state.p_a_lower[index], p_a_lower)
        state.radius[index] = np.where(cell >= 0, np.asarray(plan.radii)[np.maximum(cell, 0)], 0.0)
        state.used[index] = t
        state.stopped[index[settled | (t >= plan.n_max)]] = True
