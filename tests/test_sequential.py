import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np
import pytest
import torch
from scipy.stats import binom

from smoothing.core import ABSTAIN, Smooth
from smoothing.sequential import certify_sequential, stage_levels, stage_sizes, table_cell
from smoothing.statistics import clopper_pearson_lower

RADII = (0.0, 0.25, 0.5, 0.75)


def test_stage_sizes():
    assert stage_sizes(10_000, 4) == [1250, 2500, 5000, 10_000]
    assert stage_sizes(5, 4) == [1, 2, 3, 5]


def test_table_cell():
    assert table_cell(0.3, 0.4, RADII) == -1  # pA < 1/2: abstains
    assert [table_cell(r, 0.9, RADII) for r in (0.0, 0.2, 0.25, 0.6, 2.0)] == [1, 1, 2, 3, 4]


def test_sound_and_saves_samples(linear_model):
    """Radius <= true distance except with probability alpha per input; most inputs stop early."""
    alpha, sigma, inputs = 0.01, 0.5, 60
    distances = torch.linspace(-1.0, 1.0, inputs)
    x = linear_model.points_at(distances)
    smoothed = Smooth(linear_model, 2, sigma, seed=0)
    certificates = [certify_sequential(smoothed, xi, 50, 4000, alpha, 4000, radii=RADII) for xi in x]
    true_distance = linear_model.distance(x).numpy()
    violations = sum(c.prediction != ABSTAIN and c.radius > true_distance[i] for i, c in enumerate(certificates))
    assert violations <= binom.isf(1e-3, inputs, alpha)
    used = np.array([c.n for c in certificates])
    assert used.min() <= 4000 / 16 and used.mean() < 0.6 * 4000
    assert all(c.counts.sum() == c.n for c in certificates)


def test_stage_levels_spend_exactly_alpha():
    assert stage_levels(0.001, 1) == [0.001]
    levels = stage_levels(0.001, 6)
    assert levels[-1] == 0.0005 and levels[0] == pytest.approx(0.0001) and sum(levels) == pytest.approx(0.001)


def test_certificate_is_the_best_stage_bound_at_the_bonferroni_levels(linear_model):
    """pA_lower = max over stages of the Clopper-Pearson bound at level alpha_k, recomputed by hand from
    the same noise stream; a grid too fine to settle runs the image to n."""
    x = linear_model.points_at(torch.tensor([0.3]))[0]
    fine = tuple(np.linspace(0, 3, 3001))
    sequential = certify_sequential(Smooth(linear_model, 2, 0.5, seed=1), x, 50, 2000, 0.001, 2000, radii=fine, stages=4)
    assert sequential.n == 2000 and sequential.alpha == pytest.approx(0.001 / 2)
    replay = Smooth(linear_model, 2, 0.5, seed=1).sampler
    top = replay.counts(x[None], 50, 2000)[0].argmax()
    votes, used, bounds = 0, 0, []
    for size, level in zip(stage_sizes(2000, 4), [0.001 / 6] * 3 + [0.001 / 2]):
        votes += replay.counts(x[None], size - used, 2000)[0][top]
        used = size
        bounds.append(float(clopper_pearson_lower(votes, used, level)))
    assert sequential.p_a_lower == pytest.approx(max(bounds))


def test_settled_cell_stops_at_the_first_stage(linear_model):
    """Far from the boundary the first stage already certifies past the largest reported radius."""
    x = linear_model.points_at(torch.tensor([3.0]))[0]
    certificate = certify_sequential(Smooth(linear_model, 2, 0.5, seed=2), x, 50, 64_000, 0.001, 4000, radii=RADII)
    assert certificate.n == 2000 and certificate.radius >= 0.75


def test_bad_arguments(linear_model):
    smoothed = Smooth(linear_model, 2, 0.5)
    with pytest.raises(ValueError, match="stages >= 1"):
        certify_sequential(smoothed, torch.rand(1, 8, 8), 10, 100, 0.01, 10, radii=RADII, stages=0)
    with pytest.raises(ValueError, match="at least one reported radius"):
        certify_sequential(smoothed, torch.rand(1, 8, 8), 10, 100, 0.01, 10, radii=())


def test_sequential_suite_records_samples_used(suite, tmp_path):
    from bench.records import read_run
    from bench.runner import run_suite

    # The random ResNet-20 votes one class on every sample; with n = 2000 its cells settle before n.
    sequential = suite.with_overrides(dict(sequential=True, certifiers=["gaussian", "li-renyi"], n=2000, batch=500,
                                           skip=250))
    frame = read_run(run_suite(sequential, tmp_path / "runs", device="cpu"))
    used = frame["n"].astype(int)
    assert used.between(1, 2000).all() and (used < 2000).any()
    for _, group in frame.groupby(["sigma", "idx"]):  # one sequential pass feeds both certifiers
        assert group["n"].nunique() == 1 and group["predict"].nunique() == 1


def test_savings_benchmark_resumes_after_a_kill(tmp_path):
    """bench.sequential_savings writes each row as it finishes; a run cut mid-row resumes to the same rows."""
    from bench.sequential_savings import compare

    out = tmp_path / "savings.tsv"
    run = lambda: compare("cifar10-demo-resnet20", "cifar10-embedded", 0.25, images=2, skip=25, n0=20, n=300,
                          alpha=0.001, batch=100, stages=3, out=out)
    complete = run()
    assert list(complete["method"]) == ["certify", "sequential"] * 2
    assert (complete["samples"] <= 320).all() and (complete["samples"] > 20).all()
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:-2]) + lines[-2][:10])  # killed while writing the third row
    resumed = run()
    columns = ["method", "idx", "predict", "radius", "samples"]
    assert resumed[columns].equals(complete[columns])
