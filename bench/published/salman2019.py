"""Salman et al. (NeurIPS 2019), SmoothAdv: the logs released with Hadisalman/smoothing-adversarial
(data/certify/: the hyper-parameter sweep and the paper's best models; data_cohen/: Cohen et al.'s logs)."""
from __future__ import annotations

import re

from bench.published import Entry, Source, number, register_source
from bench.published.cohen2019 import describe_cohen_log

SETTING = re.compile(r"^data/certify/(best_models/)?(?P<dataset>cifar10|imagenet)/.*?(?P<arch>resnet\d+)/"
                     r"noise_(?P<train>[\d.]+)/(?P<split>[^/]+)/sigma_(?P<sigma>[\d.]+)$")
EXTRA_DATA = {"finetune_cifar_from_imagenet": "ImageNet-32 pre-training", "pretraining": "ImageNet-32 pre-training",
              "self_training": "self-training on unlabeled images", "selftraining": "self-training on unlabeled images"}


def variant(path: str) -> str:
    """The SmoothAdv hyper-parameters a path encodes: attack and steps, noise samples m, eps (l2, /255 in the
    path), self-training weight, fine-tuning epochs, and the base-attack ablation's noise."""
    parts = []
    if attack := re.search(r"(PGD|DDN)_(\d+)steps?", path.split("finetune_cifar_from_imagenet")[-1]):
        parts.append(f"{attack[1]} {attack[2]} step{'s' if attack[2] != '1' else ''}")
    if (samples := number(r"(\d+)-multitrain", path)) == samples:
        parts.append(f"m = {samples:g}")
    if (eps := number(r"eps_(\d+)", path)) == eps:
        parts.append(f"eps = {eps / 255:.2g}")  # eps_512: 2.0, as the source names it (512/255 = 2.008)
    if (weight := number(r"weight_([\d.]+)", path)) == weight:
        parts.append(f"weight {weight:g}")
    if (epochs := number(r"(\d+)epochs", path)) == epochs:
        parts.append(f"{epochs:g} epochs")
    if noise := re.search(r"(with|without)_noise", path):
        parts.append(f"attack {noise[1]} noise")
    return ", ".join(parts)


def describe(path: str) -> Entry | str:
    if path.startswith("data_cohen/"):
        return describe_cohen_log("data/" + path.removeprefix("data_cohen/"), group="data_cohen (Cohen et al.'s logs)")
    match = SETTING.match(path)
    if match is None:
        return "not a certify log path"
    if float(match["train"]) == 0:
        return "the base-attack ablation trained without noise (sigma 0): not a smoothing-trained model"
    best = re.match(r"data/certify/best_models/[^/]+/([^/]+)/", path)
    group = f"best_models/{best[1]}" if best else "sweep"
    gaussian = "/replication/" in path or group == "best_models/cohen"
    method = "Gaussian augmentation" if gaussian else (
        "SmoothAdv (base-attack ablation)" if "baseAttackExp" in path else "SmoothAdv")
    extra = sorted({label for key, label in EXTRA_DATA.items() if key in path})
    return Entry(method=method, dataset=match["dataset"], arch=match["arch"], train_sigma=float(match["train"]),
                 sigma=float(match["sigma"]), variant="" if gaussian else variant(path), group=group,
                 extra_data=" + ".join(extra), split=match["split"])


@register_source("salman2019")
def salman2019() -> Source:
    return Source("salman2019", "Salman et al., Provably Robust Deep Learning via Adversarially Trained Smoothed "
                  "Classifiers (NeurIPS 2019)", "Hadisalman/smoothing-adversarial",
                  "cff781d53ed5fa7df6ba567d3b51df202b6ec14e", describe)
