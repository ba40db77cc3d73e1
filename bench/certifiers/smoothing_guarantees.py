"""Gaussian smoothing (Cohen et al.), Li et al. (Renyi) and PixelDP, all from one sampling pass."""
from functools import partial

from bench.certifiers import GuaranteeCertifier, register_certifier

for _name in ("gaussian", "li-renyi", "pixeldp"):  # the guarantees' own names (baselines)
    register_certifier(_name)(partial(GuaranteeCertifier, _name))
