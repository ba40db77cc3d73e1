"""Certifiers the suite runs side by side, behind a registry (one new module per certifier).

Each declares its kind. A *sampling* certifier turns the shared CERTIFY pass of an image (a
smoothing.core.Certificate) into (prediction, radius), so every smoothing guarantee in a suite costs one
sampling pass per image and sigma; `needs_scores` asks that pass for softmax score sums as well. A
*deterministic* certifier looks at the base classifier and the clean image only (sigma does not apply).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from smoothing.core import Certificate
from smoothing.registry import Registry

SAMPLING, DETERMINISTIC = "sampling", "deterministic"


class SmoothingCertifier(Protocol):
    name: str
    kind: str  # SAMPLING
    needs_scores: bool

    def __call__(self, certificate: Certificate) -> tuple[int, float]: ...


class DeterministicCertifier(Protocol):
    name: str
    kind: str  # DETERMINISTIC

    def prepare(self, model: nn.Module, input_shape: tuple[int, ...]) -> None: ...

    def __call__(self, x: torch.Tensor) -> tuple[int, float]: ...


CERTIFIERS: Registry[SmoothingCertifier | DeterministicCertifier] = Registry("certifier", "bench.certifiers")
register_certifier = CERTIFIERS.register


def create_certifier(name: str) -> SmoothingCertifier | DeterministicCertifier:
    return CERTIFIERS.create(name)


def is_smoothing(certifier: SmoothingCertifier | DeterministicCertifier) -> bool:
    return certifier.kind == SAMPLING


@dataclass
class GuaranteeCertifier:
    """The smoothing guarantee of `baselines` of the same name, applied to the shared certificate's
    pA_lower, pB = 1 - pA_lower."""

    name: str
    kind: str = SAMPLING
    needs_scores: bool = False

    def __call__(self, certificate: Certificate) -> tuple[int, float]:
        from baselines import radii_from_certificate

        radius = radii_from_certificate(certificate, [self.name])[self.name]
        return certificate.prediction, radius
