"""Lipschitz-margin certification (Tsuzuku et al. 2018) of the base classifier, with the sound bound."""
from __future__ import annotations

import torch
from torch import nn

from bench.certifiers import DETERMINISTIC, register_certifier


@register_certifier("lipschitz-margin")
class LipschitzMargin:
    name = "lipschitz-margin"
    kind = DETERMINISTIC

    def prepare(self, model: nn.Module, input_shape: tuple[int, ...]) -> None:
        from baselines.lipschitz import LipschitzCertifier

        self.certifier = LipschitzCertifier.for_model(model, input_shape)

    def __call__(self, x: torch.Tensor) -> tuple[int, float]:
        predictions, radii = self.certifier.certify(x[None])
        return int(predictions[0]), float(radii[0])
