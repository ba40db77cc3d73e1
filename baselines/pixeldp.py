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
import torch

from smoothing.certifiers import SAMPLING, register_certifier
from smoothing.core import ABSTAIN, Certificate, Smooth
from smoothing.guarantees import register_guarantee
from smoothing.sampler import noise_tail_gap
from smoothing.statistics import check_alpha, hoeffding_halfwidth

EPSILONS = np.geomspace(1e-6, 1.0, 4000)
RADIUS_SAFETY = 1.0 - 1e-12  # relative; above the evaluation error at the maximising eps (see pixeldp_per_epsilon)


def pixeldp_per_epsilon(sigma: float, p_a, p_b, epsilons: np.ndarray = EPSILONS) -> np.ndarray:
    """The radius certified at each eps (last axis); 0 where pA <= e^(2 eps) pB.

    The margin pA - e^(2 eps) pB = (pA - pB) - expm1(2 eps) pB is computed without the rounding of
    e^(2 eps) near 1; it cancels only near the largest admissible eps, where the radius goes to 0 and is
    never the maximum. At the maximising eps the radius is accurate to ~1e-14 relative, and it is shrunk
    by RADIUS_SAFETY so that it never exceeds the exact value of the formula there."""
    p_a, p_b = np.broadcast_arrays(np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float))
    p_a, p_b = p_a[..., None], p_b[..., None]
    margin = (p_a - p_b) - np.expm1(2.0 * epsilons) * p_b  # (1 + e^eps) * delta
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.log(1.25 * (1.0 + np.exp(epsilons)) / margin)
        radius = sigma * epsilons / np.sqrt(2.0 * log_term) * RADIUS_SAFETY
    return np.where(margin > 0, radius, 0.0)


@register_guarantee("pixeldp")
def pixeldp(sigma, p_a, p_b):
    return pixeldp_per_epsilon(sigma, p_a, p_b).max(axis=-1)


def certify_from_score_sums(score_sums: np.ndarray, n: int, alpha: float, sigma: float, noise_gap: float
                            ) -> tuple[int, float]:
    """PixelDP's own estimator: (prediction, radius) of one image from the sums of its softmax scores over
    n noisy samples.

    The DP guarantee holds for the expectation of any output in [0, 1], here the softmax scores
    (Lecuyer et al., section 3). Each class's expected score gets a two-sided Hoeffding interval of
    half-width t at level alpha / (2K), so all 2K bounds hold together with probability >= 1 - alpha,
    whichever class the data then designate as the top one: pA = mean_A - t, pB = max_{c != A} mean_c + t.
    The drawn noise moves each expected score by at most `noise_gap` (smoothing.sampler.noise_tail_gap), so
    pA and pB are moved by it too.
    The default comparison in this suite instead feeds PixelDP the same Clopper-Pearson bound on label
    counts as every other guarantee (see baselines.radii_from_certificate).
    """
    check_alpha(alpha)
    mean = np.asarray(score_sums, dtype=float) / n
    halfwidth = hoeffding_halfwidth(n, alpha / (2 * len(mean)))
    top = int(mean.argmax())
    p_a = max(mean[top] - halfwidth - noise_gap, 0.0)
    p_b = min(np.delete(mean, top).max() + halfwidth + noise_gap, 1.0 - p_a)
    radius = float(pixeldp(sigma, np.asarray(p_a), np.asarray(p_b)))
    return (top if radius > 0 else ABSTAIN), radius


def certify_with_scores(smoothed: Smooth, xs: torch.Tensor, n: int, alpha: float, batch_size: int) -> list[tuple[int, float]]:
    """certify_from_score_sums for each image of xs (B, C, H, W), from n fresh noisy samples each."""
    check_alpha(alpha)
    sums = smoothed.score_sums(xs, n, batch_size)
    gap = noise_tail_gap(xs[0].numel())
    return [certify_from_score_sums(image_sums, n, alpha, smoothed.sigma, gap) for image_sums in sums]


@register_certifier("pixeldp-scores")
class PixelDPScores:
    """PixelDP with its own estimator (as its authors and the SoK rerun certify it), from the softmax score
    sums of the same CERTIFY pass's n estimation samples (certify_from_score_sums)."""

    kind = SAMPLING
    needs_scores = True

    def __call__(self, certificate: Certificate) -> tuple[int, float]:
        if certificate.score_sums is None:
            raise ValueError("pixeldp-scores needs the softmax score sums of the sampling pass; it cannot run with "
                             "sequential = true")
        return certify_from_score_sums(certificate.score_sums, certificate.n, certificate.alpha, certificate.sigma,
                                       certificate.noise_gap)
