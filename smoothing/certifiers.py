"""Certifiers a suite runs side by side, behind one registry: each registers where its math lives.

A *sampling* certifier turns the shared CERTIFY pass of an image (a smoothing.core.Certificate) into
(prediction, radius), so every smoothing certifier of a suite costs one sampling pass per image and sigma;
`needs_scores` asks that pass for softmax score sums as well. Every guarantee of smoothing.guarantees is one
(applied to the pass's pA_lower, pB = 1 - pA_lower). A *deterministic* certifier looks at the base
classifier and the clean image only (sigma does not apply). A new one is one class in one module of
`baselines/`:

    @register_certifier("name")
    class Name:
        kind = DETERMINISTIC
        def prepare(self, model, input_shape): ...
        def __call__(self, x): ...          # -> (prediction, radius)

The decorator gives the class its `name`.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from smoothing.core import Certificate
from smoothing.guarantees import GUARANTEES, radii_from_certificate
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


Certifier = SmoothingCertifier | DeterministicCertifier
CERTIFIERS: Registry[Certifier] = Registry("certifier", "baselines")


def register_certifier(name: str) -> Callable[[type], type]:
    """Register a certifier class under `name`, which it also gets as its `name` attribute."""
    def decorator(cls: type) -> type:
        cls.name = name
        return CERTIFIERS.register(name)(cls)

    return decorator


@dataclass
class GuaranteeCertifier:
    """The guarantee of the same name (smoothing.guarantees), applied to the shared certificate's pA_lower,
    pB = 1 - pA_lower."""

    name: str
    kind: str = SAMPLING
    needs_scores: bool = False

    def __call__(self, certificate: Certificate) -> tuple[int, float]:
        return certificate.prediction, radii_from_certificate(certificate, [self.name])[self.name]


def certifier_names() -> list[str]:
    """Every registered certifier and every guarantee."""
    return sorted(set(CERTIFIERS.names()) | set(GUARANTEES.names()))


def create_certifier(name: str) -> Certifier:
    if name in CERTIFIERS:
        return CERTIFIERS.create(name)
    if name in GUARANTEES:
        return GuaranteeCertifier(name)
    close = difflib.get_close_matches(name, certifier_names(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise KeyError(f"unknown certifier {name!r}.{hint} Known: {', '.join(certifier_names())}.")


def is_smoothing(certifier: Certifier) -> bool:
    return certifier.kind == SAMPLING
