"""Jeong & Shin (NeurIPS 2020), consistency regularization, with the authors' reruns of Gaussian augmentation,
SmoothAdv, MACER and stability training: the logs released with jh-jeong/smoothing-consistency (data/certify/)."""
from __future__ import annotations

import re

from bench.published import Entry, Source, register_source

PATH = re.compile(r"data/certify/(?P<dataset>cifar10|imagenet)/(?P<method>[^/]+)/(?P<rest>.*?)/?noise_(?P<sigma>[\d.]+)(?P<run>_\d+)?(?P<tail>_o)?$")
METHODS = {"cohen": "Gaussian augmentation", "salman": "SmoothAdv", "macer": "MACER", "stab": "Stability training"}
ARCHS = ("cifar_resnet20", "cifar_resnet110", "cifar_densenet40")


def describe(path: str) -> Entry | str:
    if path.endswith("_acc"):
        return "an _acc curve (radius, certified accuracy over all rows), not per-image rows"
    match = PATH.search(path)
    if match is None:
        return "not a certify log path"
    folders = [part for part in match["rest"].split("/") if part]
    arch = next((part for part in folders if part in ARCHS), "resnet50" if match["dataset"] == "imagenet" else "")
    settings = [part for part in folders if part != arch]
    if match["method"] == "consistency":
        base = settings.pop(0)
        method = "Consistency (Gaussian)" if base == "cohen" else "Consistency (SmoothAdv)"
        settings.insert(0, base)
    else:
        method = METHODS[match["method"]]
    variant = "/".join(settings) + (f" (run {match['run'][1:]}{', file _o' if match['tail'] else ''})" if match["run"] else "")
    sigma = float(match["sigma"])
    return Entry(method=method, dataset=match["dataset"], arch=arch, train_sigma=sigma, sigma=sigma,
                 variant=variant.strip())


@register_source("jeong2020")
def jeong2020() -> Source:
    return Source("jeong2020", "Jeong & Shin, Consistency Regularization for Certified Robustness of Smoothed "
                  "Classifiers (NeurIPS 2020)", "jh-jeong/smoothing-consistency",
                  "a11954aa91adb9924eecf49aaca74051e79bbb86", describe)
