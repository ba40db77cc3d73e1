"""Gaussian smoothing (Cohen et al.), Li et al. (Renyi) and PixelDP, all from one sampling pass."""
from functools import partial

from bench.certifiers import GuaranteeCertifier, register_certifier

for _name, _guarantee in (("gaussian", "cohen"), ("li-renyi", "li_renyi"), ("pixeldp", "pixeldp")):
    register_certifier(_name)(partial(GuaranteeCertifier, _name, _guarantee))
