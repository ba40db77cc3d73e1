"""Cohen, Rosenfeld & Kolter (ICML 2019): the logs released with locuslab/smoothing (data/certify/)."""
from __future__ import annotations

import re

from bench.published import Entry, Source, register_source

CERTIFY = re.compile(r"data/certify/(?P<dataset>[^/]+)/(?P<arch>[^/]+)/noise_(?P<train>[\d.]+)/(?P<split>[^/]+)/sigma_(?P<sigma>[\d.]+)$")


def describe_cohen_log(path: str, group: str = "") -> Entry | str:
    """data/certify/<dataset>/<arch>/noise_<train sigma>/<split>/sigma_<sigma>: Gaussian augmentation."""
    match = CERTIFY.search(path)
    if match is None:
        if "/predict/" in f"/{path}":
            return "a PREDICT log (N samples per prediction), not a certificate"
        if path.startswith("published/"):
            return "the paper's tables as text, not per-image rows"
        return "not a certify log path"
    return Entry(method="Gaussian augmentation", dataset=match["dataset"], arch=match["arch"],
                 train_sigma=float(match["train"]), sigma=float(match["sigma"]), group=group, split=match["split"])


@register_source("cohen2019")
def cohen2019() -> Source:
    return Source("cohen2019", "Cohen, Rosenfeld & Kolter, Certified Adversarial Robustness via Randomized "
                  "Smoothing (ICML 2019)", "locuslab/smoothing", "not recorded (data/ as released)",
                  describe_cohen_log)
