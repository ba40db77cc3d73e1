"""The anytime-valid beta-mixture confidence sequence (Robbins 1970) as a scheme."""
from __future__ import annotations

from smoothing.sequential import Plan, Scheme, State, register_scheme
from smoothing.statistics import mixture_lower_bound


@register_scheme("mixture")
class Mixture(Scheme):
    """The anytime-valid beta-mixture confidence sequence at level alpha, looked at on a geometric grid."""

    name = "mixture"

    def update(self, plan: Plan, state: State, t: int) -> None:
        active = ~state.stopped
        successes = state.successes[active]
        lower = mixture_lower_bound(successes, t, plan.alpha)
        best_lower = mixture_lower_bound(successes + (plan.n_max - t), plan.n_max, plan.alpha)
        self._settle(plan, state, active, lower, self._reachable_cell(plan, best_lower - plan.gap), t)
