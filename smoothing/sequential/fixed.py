"""Cohen et al.'s CERTIFY as a scheme: one look at n_max (the reference of the sample-efficiency benchmark)."""
from __future__ import annotations

import numpy as np

from smoothing.sequential import Plan, Scheme, State, register_scheme
from smoothing.statistics import clopper_pearson_lower


@register_scheme("fixed")
class Fixed(Scheme):
    """CERTIFY (Cohen et al., Algorithm 2): Clopper-Pearson at level alpha after n_max samples."""

    name = "fixed"
    predictive = False  # one look

    def looks(self, plan: Plan) -> list[int]:
        return [plan.n_max]

    def update(self, plan: Plan, state: State, t: int) -> None:
        active = ~state.stopped
        lower = clopper_pearson_lower(state.successes[active], t, plan.alpha)
        self._settle(plan, state, active, lower, np.full(active.sum(), 10**9), t)
