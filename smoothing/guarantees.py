"""Certified-radius guarantees of Gaussian smoothing, side by side, from the same (pA_lower, pB_upper).

Each guarantee is a pure, vectorised function radius(sigma, p_a, p_b) -> ndarray, zero where it
certifies nothing, registered by name: the tight one of Cohen et al. here, the looser ones of the
baselines each in its own module of `baselines/`. Adding one is one new module there:

    @register_guarantee("name")
    def name(sigma, p_a, p_b): ...

and it is also a certifier of the same name (smoothing.certifiers) that a suite can run.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from smoothing.registry import Registry
from smoothing.statistics import check_sigma, gaussian_radius

if TYPE_CHECKING:
    from smoothing.core import Certificate

Guarantee = Callable[[float, np.ndarray, np.ndarray], np.ndarray]
GUARANTEES: Registry[np.ndarray] = Registry("guarantee", "smoothing.guarantees", "baselines")
register_guarantee = GUARANTEES.register


@register_guarantee("gaussian")
def gaussian(sigma, p_a, p_b):
    """Cohen, Rosenfeld & Kolter (ICML 2019), Theorem 1 (tight by Theorem 2):
    R = sigma / 2 * (PhiInv(pA) - PhiInv(pB))."""
    return gaussian_radius(sigma, p_a, p_b)


def check_guarantee_inputs(sigma: float, p_a, p_b=None) -> tuple[np.ndarray, np.ndarray]:
    """(p_a, p_b) as float arrays; p_b defaults to 1 - p_a (sound: other classes share 1 - P(cA))."""
    check_sigma(sigma)
    p_a = np.asarray(p_a, dtype=float)
    p_b = 1.0 - p_a if p_b is None else np.asarray(p_b, dtype=float)
    for name, p in (("p_a", p_a), ("p_b", p_b)):
        if np.any(~np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
            raise ValueError(f"{name} must lie in [0, 1] (a probability bound), got {p[(p < 0) | (p > 1) | ~np.isfinite(p)][:3]}")
    if np.any(p_a + p_b > 1 + 1e-12):
        raise ValueError("p_a + p_b > 1: bounds on the probabilities of two distinct classes cannot exceed 1 together")
    return np.broadcast_arrays(p_a, p_b)


def certified_radius(name: str, sigma: float, p_a, p_b=None) -> np.ndarray:
    """The radius guarantee `name` certifies; p_b defaults to 1 - p_a."""
    guarantee = GUARANTEES.get(name)
    return guarantee(sigma, *check_guarantee_inputs(sigma, p_a, p_b))


def guarantee_names() -> list[str]:
    return GUARANTEES.names()


def radii_from_certificate(certificate: "Certificate", names: list[str] | None = None) -> dict[str, float]:
    """Each guarantee's radius from one CERTIFY sampling pass (smoothing.core.Certificate).

    Estimator, the same for every guarantee: pA_lower is the certificate's one-sided (1 - alpha) lower
    bound and pB = 1 - pA_lower, which is sound for any runner-up. With one estimator and one set of counts,
    the radii differ only by the guarantee, so the comparison is fair. (PixelDP's authors instead bound
    expected softmax scores with Hoeffding-type intervals: the `pixeldp-scores` certifier of
    baselines.pixeldp.) An abstention certifies nothing under any guarantee.
    """
    names = names or guarantee_names()
    if certificate.prediction == -1:
        return dict.fromkeys(names, 0.0)
    return {name: float(certified_radius(name, certificate.sigma, certificate.p_a_lower)) for name in names}
