"""Staged Bonferroni: Clopper-Pearson at K geometric looks, alpha split by the union bound."""
from __future__ import annotations

import math

import numpy as np

from smoothing.sequential import Plan, Scheme, State, register_scheme
from smoothing.statistics import clopper_pearson_lower, clopper_pearson_upper


@register_scheme("staged")
class Staged(Scheme):
    """Clopper-Pearson at K = 6 geometric looks n/32, ..., n, at levels alpha / (2 (K - 1)) and alpha / 2."""

    name = "staged"
    stages = 6
    predictive = False  # as it was introduced: stop once the cell of the upper bound is reached

    def looks(self, plan: Plan) -> list[int]:
        return sorted({max(1, math.ceil(plan.n_max / 2 ** (self.stages - k))) for k in range(1, self.stages + 1)})

    def levels(self, plan: Plan) -> list[float]:
        count = len(self.looks(plan))
        if count == 1:
            return [plan.alpha]
        return [plan.alpha / (2 * (count - 1))] * (count - 1) + [plan.alpha / 2]

    def update(self, plan: Plan, state: State, t: int) -> None:
        active = ~state.stopped
        level = self.levels(plan)[self.looks(plan).index(t)]
        successes = state.successes[active]
        lower = clopper_pearson_lower(successes, t, level)
        best_lower = clopper_pearson_lower(plan.n_max, plan.n_max, self.levels(plan)[-1])
        upper = clopper_pearson_upper(successes, t, level)
        best = np.minimum(upper + plan.gap, best_lower - plan.gap)  # the best more samples could still certify
        self._settle(plan, state, active, lower, self._reachable_cell(plan, best), t)
