"""Cohen, Rosenfeld & Kolter (ICML 2019), Theorem 1 (tight by Theorem 2):
R = sigma / 2 * (PhiInv(pA) - PhiInv(pB))."""
from baselines import register_guarantee
from smoothing.statistics import gaussian_radius


@register_guarantee("gaussian")
def gaussian(sigma, p_a, p_b):
    return gaussian_radius(sigma, p_a, p_b)
