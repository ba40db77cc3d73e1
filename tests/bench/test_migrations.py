"""The float32-noise migration of committed runs (bench.migrations): radii only go down, by the gap's effect."""
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from bench.migrations import float32_noise_gap, lower_for_float32_noise
from bench.records import read_run
from tests.helpers import REPOSITORY

RUNS = REPOSITORY / "results" / "runs"


def test_the_gap_is_the_missing_tail():
    """d 2 Phi(-z_max): 2.5e-5 for a CIFAR-10 image's float32 CPU noise (5.77 sigma), 4.1e-8 on CUDA."""
    assert float32_noise_gap(3072, "cpu") == pytest.approx(3072 * 2 * norm.sf(np.sqrt(48 * np.log(2))))
    assert float32_noise_gap(3072, "cpu") == pytest.approx(2.46e-5, rel=0.01)
    assert float32_noise_gap(3072, "cuda") == pytest.approx(4.13e-8, rel=0.01)


def rows(**values) -> pd.DataFrame:
    base = dict(model="m", sigma=0.5, idx=0, label=1, predict=1, correct=1, certifier="gaussian", radius=1.0)
    return pd.DataFrame([{**base, **values}])


def test_radii_are_lowered_from_the_lowered_probability():
    gap = float32_noise_gap(3072, "cpu")
    frame = pd.concat([rows(radius=1.0), rows(certifier="li-renyi", radius=0.9), rows(idx=1, radius=1e-6),
                       rows(idx=1, certifier="pixeldp", radius=0.0),
                       rows(idx=2, certifier="lipschitz-margin", sigma=float("nan"), radius=0.3)], ignore_index=True)
    lowered = lower_for_float32_noise(frame, 3072, "cpu")
    p_a = norm.cdf(1.0 / 0.5) - gap
    assert lowered["radius"][0] == pytest.approx(0.5 * norm.ppf(p_a), rel=1e-9) and lowered["radius"][0] < 1.0
    assert lowered["radius"][1] <= 0.9
    assert lowered.loc[2, ["predict", "radius", "correct"]].tolist() == [-1, 0.0, 0]  # pA' < 1/2: abstains
    assert lowered.loc[3, "predict"] == -1
    assert lowered["radius"][4] == 0.3  # deterministic rows keep their radius


def test_rows_of_the_score_estimator_are_refused():
    with pytest.raises(ValueError, match="pixeldp-scores cannot be lowered from their radii; rerun them"):
        lower_for_float32_noise(pd.concat([rows(), rows(certifier="pixeldp-scores")]), 3072, "cpu")


@pytest.mark.parametrize("run", ["cifar10-exact-first500/cpu-fp32", "cifar10-jpeg-first500/cpu-fp32",
                                 "cifar10-jpeg-resnet110/cuda-bf16"])
def test_committed_float32_runs_are_migrated(run):
    """The runs certified before the float64 sampler (not rerun since) carry the migration."""
    manifest = json.loads((RUNS / f"{run}.manifest.json").read_text())
    assert "float32 noise's tail gap" in manifest["noise_migration"]["what"]
    assert read_run(RUNS / f"{run}.tsv")["radius"].max() > 0

