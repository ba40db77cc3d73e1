"""Sample efficiency by simulation on the released per-image pA (bench.tools.sample_efficiency, bench.published)."""
import numpy as np
import pandas as pd

from bench.cli import main
from bench.published import read_published
from bench.published.cohen2019 import cohen2019_rows
from bench.tools.sample_efficiency import (
    SUMMARY_COLUMNS,
    SUMMARY_FILE,
    fixed_n_cell,
    oracle_samples,
    reference_p_a,
    sample_efficiency,
)
from smoothing.sequential import RECOMMENDED, Plan, certification_grid, table_cell
from smoothing.statistics import clopper_pearson_lower, gaussian_radius
from tests.helpers import REPOSITORY, one_line_error

PLAN = Plan(2000, 0.01, 0.25, certification_grid(0.25, 0.25, 2000, 0.01))


def test_the_released_rows_give_conservative_p_a():
    images = reference_p_a(cohen2019_rows(read_published(REPOSITORY / "results")))
    assert len(images) == 3427 and images["p_a"].between(0.5, 1.0).all()


def test_fixed_n_cells_agree_with_certify_on_the_same_votes():
    votes = np.arange(0, PLAN.n_max + 1, 7)
    lower = clopper_pearson_lower(votes, PLAN.n_max, PLAN.alpha)
    expected = table_cell(gaussian_radius(PLAN.sigma, lower), lower, PLAN.radii)
    assert (fixed_n_cell(PLAN, votes) == expected).all()


def test_the_oracle_is_the_fewest_samples_that_reach_the_cell():
    p_a = np.array([0.5, 0.6, 0.8, 0.99, 1 - 1e-6])
    oracle = oracle_samples(PLAN, p_a)
    assert oracle[0] == 0 and (oracle[1:] >= 1).all() and (oracle <= PLAN.n_max).all()
    cell = fixed_n_cell(PLAN, np.floor(PLAN.n_max * p_a))
    for n, p, k in zip(oracle[1:], p_a[1:], cell[1:]):
        assert clopper_pearson_lower(np.floor(n * p), n, PLAN.alpha) > PLAN.thresholds[k]
        assert not clopper_pearson_lower(np.floor((n - 1) * p), n - 1, PLAN.alpha) > PLAN.thresholds[k]


def test_fixed_n_is_the_reference_and_the_grid_saves_samples():
    images = pd.DataFrame(dict(dataset="cifar10", sigma=0.25, idx=range(6), p_a=[0.5, 0.7, 0.9, 0.99, 0.999, 1.0]))
    summary, per_image = sample_efficiency(images, ["fixed", "grid"], repetitions=50, n_max=2000, alpha=0.01)
    assert list(summary.columns) == SUMMARY_COLUMNS and len(per_image) == 6
    fixed, grid = summary.set_index("scheme").loc["fixed"], summary.set_index("scheme").loc["grid"]
    assert fixed["mean_samples"] == 2000 and fixed["cell_changes"] == 0 and fixed["median_radius_loss"] == 0
    assert grid["saved"] > 1.5 and grid["mean_samples"] >= grid["oracle_mean_samples"] * 0.5
    assert (per_image["fixed_samples"] == 2000).all() and (per_image["oracle_samples"] <= 2000).all()
    assert summary["failures"].sum() <= 5  # 600 certifications per scheme at alpha = 0.01


def test_the_command_writes_tables_and_figure_and_refuses_a_missing_file(tmp_path, capsys):
    assert main(["sample-efficiency", "--images", "3", "--sigmas", "0.5", "--repetitions", "4", "--n", "1000",
                 "--schemes", "fixed", "grid", "--out", str(tmp_path), "--plots", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "sample_efficiency.csv")
    assert set(summary["dataset"]) == {"cifar10", "imagenet"} and set(summary["scheme"]) == {"fixed", "grid"}
    assert (tmp_path / "sample_efficiency.png").stat().st_size > 0 and "### imagenet" in (
        tmp_path / "sample_efficiency.md").read_text()
    assert main(["sample-efficiency", "--images", "3", "--sigmas", "0.5", "--repetitions", "4", "--n", "1000",
                 "--schemes", "grid", "--predictive", "0.02", "0.2", "--out", str(tmp_path / "sweep"),
                 "--plots", str(tmp_path)]) == 0
    sweep = pd.read_csv(tmp_path / "sweep" / "sample_efficiency.csv")
    assert sorted(set(sweep["predictive"])) == [0.02, 0.2] and (tmp_path / "sample_efficiency_futility.png").is_file()
    capsys.readouterr()
    assert main(["sample-efficiency", "--predictive", "1", "--out", str(tmp_path)]) == 2
    assert "the futility threshold must be in [0, 1) (0: never stop for futility), got 1.0" in one_line_error(capsys)
    assert main(["sample-efficiency", "--results", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "entries.csv.xz: no published logs" in one_line_error(capsys)
    assert main(["sample-efficiency", "--sigmas", "0.3", "--out", str(tmp_path)]) == 2
    assert "choose among cifar10 0.12, cifar10 0.25" in one_line_error(capsys)


def test_the_recommended_scheme_saves_the_most_of_those_within_one_percent_of_cells_everywhere():
    """`sequential = true` (smoothing.sequential.RECOMMENDED) is the scheme that, of those changing at most 1 %
    of table cells in every committed setting, saves the most samples in each setting."""
    summary = pd.read_csv(REPOSITORY / "results" / "sequential" / SUMMARY_FILE)
    sequential = summary[summary["scheme"] != "fixed"]
    within = sequential.groupby("scheme")["cell_changes"].max() <= 0.01
    eligible = sequential[sequential["scheme"].isin(within[within].index)]
    best = eligible.loc[eligible.groupby(["dataset", "sigma"])["saved"].idxmax(), "scheme"]
    assert len(best) == summary.groupby(["dataset", "sigma"]).ngroups and set(best) == {RECOMMENDED}
