"""Lecuyer, Atlidakis, Geambasu, Hsu & Jana, PixelDP (IEEE S&P 2019, arXiv 1802.03471).

Gaussian noise of scale sigma on the input (l2 sensitivity 1) is an (eps, delta)-DP mechanism for
attacks of size L when sigma = sqrt(2 ln(1.25 / delta)) * L / eps, eps <= 1; the prediction is robust
when pA > e^(2 eps) pB + (1 + e^eps) delta (their Proposition 1). For fixed eps the radius grows with
delta, so delta = (pA - e^(2 eps) pB) / (1 + e^eps) and
    R = sup_{0 < eps <= 1} sigma * eps / sqrt(2 ln(1.25 (1 + e^eps) / (pA - e^(2 eps) pB))),
the form of Cohen et al. (2019), Appendix I. The supremum is taken over a fixed dense grid of eps
(each one a valid certificate), so it can only err low and is monotone in pA.
"""
from typing import TYPE_CHECKING

import numpy as np
import torch

from baselines import register_guarantee
from smoothing.statistics import check_alpha, hoeffding_halfwidth

if TYPE_CHECKING:
    from smoothing.core import Smooth

EPSILONS = np.geomspace(1e-6, 1.0, 4000)


@register_guarantee("pixeldp")
def pixeldp(sigma, p_a, p_b):
    p_a, p_b = np.broadcast_arrays(p_a, p_b)
    margin = p_a[..., None] - np.exp(2.0 * EPSILONS) * p_b[..., None]  # (1 + e^eps) * delta
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.log(1.25 * (1.0 + np.exp(EPSILONS)) / margin)
        radius = np.where(margin > 0, sigma * EPSILONS / np.sqrt(2.0 * log_term), 0.0)
    return radius.max(axis=-1)


def certify_with_scores(smoothed: "Smooth", xs: torch.Tensor, n: int, alpha: float, batch_size: int) -> list[tuple[int, float]]:
    """PixelDP's own estimator: (prediction, radius) per image from expected softmax scores.

    The DP guarantee holds for the expectation of any output in [0, 1], here the softmax scores
    (Lecuyer et al., section 3). Each class's expected score gets a two-sided Hoeffding interval of
    half-width t at level alpha / (2K), so all 2K bounds hold together with probability >= 1 - alpha,
    whichever class the data then designate as the top one: pA = mean_A - t, pB = max_{c != A} mean_c + t.
    The default comparison in this suite instead feeds PixelDP the same Clopper-Pearson bound on label
    counts as every other guarantee (see baselines.radii_from_certificate).
    """
    check_alpha(alpha)
    classes = smoothed.num_classes
    means = smoothed.sampler.score_sums(xs, n, batch_size) / n
    halfwidth = hoeffding_halfwidth(n, alpha / (2 * classes))
    results = []
    for mean in means:
        top = int(mean.argmax())
        p_a = max(mean[top] - halfwidth, 0.0)
        p_b = min(np.delete(mean, top).max() + halfwidth, 1.0 - p_a)
        radius = float(pixeldp(smoothed.sigma, np.asarray(p_a), np.asarray(p_b)))
        results.append((top if radius > 0 else -1, radius))
    return results
