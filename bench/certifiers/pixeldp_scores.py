"""PixelDP with its own estimator (Lecuyer et al. 2019, as its authors and the SoK rerun certify it):
expected softmax scores bounded by Hoeffding intervals, from the softmax score sums of the same CERTIFY
pass's n estimation samples (baselines.pixeldp.certify_from_score_sums)."""
from __future__ import annotations

from baselines.pixeldp import certify_from_score_sums
from bench.certifiers import SAMPLING, register_certifier
from smoothing.core import Certificate


@register_certifier("pixeldp-scores")
class PixelDPScores:
    name = "pixeldp-scores"
    kind = SAMPLING
    needs_scores = True

    def __call__(self, certificate: Certificate) -> tuple[int, float]:
        if certificate.score_sums is None:
            raise ValueError("pixeldp-scores needs the softmax score sums of the sampling pass; it cannot run with "
                             "sequential = true")
        return certify_from_score_sums(certificate.score_sums, certificate.n, certificate.alpha, certificate.sigma,
                                       certificate.noise_gap)
