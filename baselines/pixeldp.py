"""Lecuyer, Atlidakis, Geambasu, Hsu & Jana, PixelDP (IEEE S&P 2019, arXiv 1802.03471).

Gaussian noise of scale sigma on the input (l2 sensitivity 1) is an (eps, delta)-DP mechanism for
attacks of size L when sigma = sqrt(2 ln(1.25 / delta)) * L / eps, eps <= 1; the prediction is robust
when pA > e^(2 eps) pB + (1 + e^eps) delta (their Proposition 1). For fixed eps the radius grows with
delta, so delta = (pA - e^(2 eps) pB) / (1 + e^eps) and
    R = sup_{0 < eps <= 1} sigma * eps / sqrt(2 ln(1.25 (1 + e^eps) / (pA - e^(2 eps) pB))),
the form of Cohen et al. (2019), Appendix I. The supremum is taken over a fixed dense grid of eps
(each one a valid certificate), so it can only err low and is monotone in pA.
"""
import numpy as np

from baselines import register_guarantee

EPSILONS = np.geomspace(1e-6, 1.0, 4000)


@register_guarantee("pixeldp")
def pixeldp(sigma, p_a, p_b):
    p_a, p_b = np.broadcast_arrays(p_a, p_b)
    margin = p_a[..., None] - np.exp(2.0 * EPSILONS) * p_b[..., None]  # (1 + e^eps) * delta
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.log(1.25 * (1.0 + np.exp(EPSILONS)) / margin)
        radius = np.where(margin > 0, sigma * EPSILONS / np.sqrt(2.0 * log_term), 0.0)
    return radius.max(axis=-1)
