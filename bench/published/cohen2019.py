"""Cohen, Rosenfeld & Kolter (ICML 2019): the logs released with locuslab/smoothing (data/certify/)."""
from __future__ import annotations

import re

import pandas as pd

from bench.published import Entry, Source, register_source

PAPER_ROW_COLUMNS = ["dataset", "model", "sigma", "idx", "label", "predict", "radius", "correct"]
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


def cohen2019_rows(published: pd.DataFrame) -> pd.DataFrame:
    """The paper's own rows (bench.published.read_published): each released model certified at its training
    sigma on the test split, one row per image, named cohen2019-<dataset>-<arch>-noise<sigma>."""
    rows = published[(published["source"] == "cohen2019") & (published["train_sigma"] == published["sigma"])
                     & (published["split"] == "test")]
    model = "cohen2019-" + rows["dataset"] + "-" + rows["arch"] + "-noise" + rows["train_sigma"].map("{:.2f}".format)
    return rows.assign(model=model).sort_values(["dataset", "sigma", "idx"], kind="stable")[PAPER_ROW_COLUMNS] \
        .reset_index(drop=True)
