"""A sequential run on real images beside a fixed-n run (bench.tools.sequential_runs)."""
import pandas as pd
import pytest

from bench.cli import main
from bench.tools.sequential_runs import SUMMARY_COLUMNS, grid_cells, sequential_run_summary
from tests.helpers import REPOSITORY, one_line_error


def rows(run: str, n, predict, radius, dataset: str = "cifar10-jpeg") -> pd.DataFrame:
    return pd.DataFrame(dict(run=run, dataset=dataset, model="m", sigma=0.25, idx=range(len(n)), n=n, n_max=max(n),
                             predict=predict, radius=radius, seconds=1.0, certifier="gaussian"))


def test_cells_are_never_rounded_up():
    frame = rows("r", [1] * 5, [3, 3, 3, -1, 3], [0.0, 0.2499999999, 0.25, 0.0, 0.74])
    assert list(grid_cells(frame)) == [0, 0, 1, -1, 2]
    imagenet = rows("r", [1, 1], [3, 3], [0.49, 0.5], dataset="imagenet")
    assert list(grid_cells(imagenet)) == [0, 1]


def test_samples_abstentions_and_cells_against_the_fixed_run():
    sequential = rows("seq/cpu", [100, 1000, 500, 100000], [3, 3, -1, 3], [0.25, 0.75, 0.0, 1.0])
    fixed = rows("fixed/cpu", [10000] * 3, [3, 3, 3], [0.3, 0.5, 0.1])  # cells 1, 2, 0 on images 0-2
    summary = sequential_run_summary(sequential, "grid", fixed)
    assert list(summary.columns) == SUMMARY_COLUMNS and len(summary) == 1
    row = summary.iloc[0]
    assert row["mean_samples"] == pytest.approx(25400) and row["median_samples"] == 750
    assert row["saved"] == pytest.approx(100000 / 25400)
    assert (row["abstentions"], row["abstention_mean_samples"]) == (1, 500)
    assert row["shared_images"] == 3 and row["fixed_over_sequential"] == pytest.approx(10000 / (1600 / 3))
    assert (row["cells_higher"], row["cells_same"], row["cells_lower"]) == (1, 1, 1)
    alone = sequential_run_summary(sequential, "grid", None).iloc[0]
    assert pd.isna(alone["fixed_n"]) and alone["images"] == 4


def test_the_command_reports_the_committed_run_and_refuses_a_fixed_suite(tmp_path, capsys):
    runs = str(REPOSITORY / "results" / "runs")
    assert main(["sequential-runs", "--runs", runs, "--out", str(tmp_path), "--plots", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "sequential_runs.csv")
    assert summary.loc[summary["sigma"] == 0.12, "images"].item() == 500
    assert (tmp_path / "sequential_run_cifar10-jpeg-paper.png").is_file()
    capsys.readouterr()
    assert main(["sequential-runs", "--runs", runs, "--sequential", "cifar10-jpeg", "--out", str(tmp_path)]) == 2
    assert "certifies with fixed n" in one_line_error(capsys)
    assert main(["sequential-runs", "--runs", runs, "--sequential", "nonesuch", "--out", str(tmp_path)]) == 2
    assert "0 runs of suite 'nonesuch'" in one_line_error(capsys)
    assert main(["sequential-runs", "--runs", runs, "--simulated", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2
    assert "none.csv: no simulated per-image file" in one_line_error(capsys)
