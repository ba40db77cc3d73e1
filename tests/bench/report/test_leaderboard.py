"""The leaderboard (bench.report.leaderboard): deterministic, ranked with intervals, the paper's rows beside ours."""
import hashlib

import pandas as pd
import pytest

from bench.cli import main
from bench.records import read_run
from bench.report.leaderboard import (
    paper_comparison,
    pixel_format_comparison,
    regenerate,
)
from bench.runner import run_suite
from tests.helpers import one_line_error


def test_leaderboard_names_corrupt_inputs(suite, tmp_path, capsys):
    """A header-only run file printed `error: dataset`, a corrupt throughput CSV `error: precision`."""
    path = run_suite(suite, tmp_path / "runs", device="cpu")
    empty = path.with_name("empty.tsv")
    empty.write_text(path.read_text().splitlines(keepends=True)[0])
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    assert f"{empty}: no rows yet; skipped" in capsys.readouterr().err
    (tmp_path / "throughput").mkdir()
    corrupt = tmp_path / "throughput" / "samples_per_s_x.csv"
    corrupt.write_text("arch,method\nresnet,ours\n")
    assert main(["leaderboard", "--results", str(tmp_path)]) == 2
    assert f"{corrupt}: no column device, precision" in one_line_error(capsys)


def digest(paths):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_leaderboard_regenerates_deterministically(suite, tmp_path):
    run_suite(suite, tmp_path / "runs", device="cpu")
    assert main(["throughput", "--arch", "cifar_resnet20", "--batch", "10", "--n", "20", "--device", "cpu",
                 "--out", str(tmp_path / "throughput" / "samples_per_s_cpu.csv")]) == 0
    assert main(["throughput", "--arch", "cifar_resnet20", "--certify-images", "1", "--n0", "4", "--n", "16",
                 "--batch", "8", "--device", "cpu", "--out", str(tmp_path / "throughput" / "certify_seconds_cpu.csv")]) == 0
    assert main(["throughput", "--arch", "cifar_resnet20", "--memory", "8", "16", "--batch", "8", "--device", "cpu",
                 "--out", str(tmp_path / "throughput" / "peak_memory_cpu.csv")]) == 0
    first = regenerate(tmp_path)
    names = {p.name for p in first}
    assert {"leaderboard.md", "leaderboard.csv", "bounds.png", "bounds.pdf", "throughput.png",
            "certify_seconds.png"} <= names
    assert "certified_accuracy_tiny_cpu-fp32.png".replace("tiny", suite.name) in names
    second = regenerate(tmp_path)
    assert digest(first) == digest(second)  # same inputs, same bytes (no timestamps)
    text = (tmp_path / "leaderboard.md").read_text()
    assert "### cifar10-embedded" in text and "lipschitz-margin" in text and "r=0.25" in text
    assert "## Time per image" in text and "## Other runs (not ranked)" in text
    assert "## Sampling throughput" in text and "ours_seconds_per_image_n100k" in text
    assert "## CERTIFY seconds per image" in text and "reference-style / ours" in text
    assert "## Peak memory of sampling" in text and "n=16 MiB" in text


def test_leaderboard_without_runs(tmp_path, capsys):
    assert main(["leaderboard", "--results", str(tmp_path)]) == 2
    assert "no runs under" in capsys.readouterr().err


def test_run_command_leaves_leaderboard(suite, tmp_path, capsys):
    suite_file = tmp_path / "tiny.toml"
    assert suite_file.is_file()
    assert main(["run", str(suite_file), "--results", str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert (tmp_path / "out" / "leaderboard.md").is_file() and (tmp_path / "out" / "plots" / "bounds.png").is_file()
    assert "leaderboard and plots regenerated" in capsys.readouterr().out


def test_two_runs_of_one_suite_stay_two_rows(suite, tmp_path):
    """A CPU and a GPU run of the same suite are two leaderboard rows each over its own images, not one
    row over both."""
    from bench.records import read_run
    from bench.report.leaderboard import leaderboard_frame

    one = read_run(run_suite(suite, tmp_path / "runs", device="cpu"))
    both = pd.concat([one.assign(run="cpu-fp32"), one.assign(run="cuda-bf16")], ignore_index=True)
    frame = leaderboard_frame(both)
    assert len(frame) == 2 * len(leaderboard_frame(one.assign(run="cpu-fp32")))
    assert set(frame["images"]) == {5}


def test_paper_comparison_on_the_same_images(suite, tmp_path):
    """Our Gaussian rows beside the paper's at the same sigma on our run's test images, when the paper
    certified every one of them."""
    ours = read_run(run_suite(suite, tmp_path / "runs", device="cpu")).assign(run="tiny/cpu-fp32")
    paper = pd.DataFrame([dict(dataset="cifar10", model="cohen2019-cifar10-resnet110-noise0.25", sigma=0.25, idx=i,
                               label=0, predict=0, radius=0.3 * (i % 2), correct=1, seconds=15.0)
                          for i in (0, 100, 200, 300, 400, 7)])
    frame = paper_comparison(ours, paper)
    assert set(frame.sigma) == {0.25} and list(frame.source) == ["this suite", "published"]
    assert list(frame.images) == [5, 5]  # ours: 0, 100, 200, 300, 400; theirs: those and 7
    published = frame.set_index("source").loc["published"]
    assert published["r=0"] == 1.0 and published["r=0.25"] == pytest.approx(0.0)
    assert paper_comparison(ours, paper.assign(sigma=0.12)).empty
    assert paper_comparison(ours, paper[paper.idx != 400]).empty  # image 400 not certified by the paper
    ours_row = frame.set_index("source").loc["this suite"]
    chosen = ours[(ours.certifier == "gaussian") & (ours.sigma == 0.25)]
    assert ours_row["r=0"] == pytest.approx((chosen.correct == 1).mean())


def test_pixel_format_comparison_pairs_runs_on_the_same_images():
    """Exact and JPEG copies of CIFAR-10 are compared only between runs that certified the same indices."""
    def run(dataset, run_name, indices, radius):
        return pd.DataFrame([dict(dataset=dataset, model="m", certifier=certifier, sigma=0.25, run=run_name, idx=i,
                                  label=1, predict=1, radius=radius, correct=1)
                             for i in indices for certifier in ("gaussian", "pixeldp")])

    runs = pd.concat([run("cifar10-embedded", "exact/cpu", range(0, 500, 5), 0.6),
                      run("cifar10-jpeg", "jpeg/cpu", range(0, 500, 5), 0.3),
                      run("cifar10-jpeg", "other/cpu", range(0, 10000, 100), 0.3)], ignore_index=True)
    frame = pixel_format_comparison(runs)
    assert list(frame["run"]) == ["exact/cpu", "jpeg/cpu"] and list(frame["images"]) == [100, 100]
    assert list(frame["r=0.5"]) == [1.0, 0.0] and list(frame["r=0"]) == [1.0, 1.0]
    assert pixel_format_comparison(runs[runs["dataset"] == "cifar10-jpeg"]).empty  # one copy: nothing to compare


def test_leaderboard_is_ranked_with_intervals(suite, tmp_path):
    """Ranked by certified accuracy at the headline radius among rows of one dataset, image set, n and
    alpha; every accuracy carries its 95 % Clopper-Pearson interval; seconds only in per-device tables."""
    from scipy.stats import beta

    run_suite(suite, tmp_path / "runs", device="cpu")
    regenerate(tmp_path)
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert "source" not in board.columns
    for _, group in board.groupby(["dataset", "image_set", "n", "alpha"]):
        assert list(group["rank"]) == list(range(1, len(group) + 1))
        assert list(group["headline"]) == sorted(group["headline"], reverse=True)
    row = board.iloc[0]
    k, n = round(row["r=0.25"] * row["images"]), row["images"]
    low = beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    assert row["r=0.25 low"] == pytest.approx(low, abs=1e-4) and row["r=0.25 low"] <= row["r=0.25"] <= row["r=0.25 high"]
    text = (tmp_path / "leaderboard.md").read_text()
    assert "ranked (by certified accuracy at the dataset's headline radius) only among rows of the same dataset" in text
    assert "cpu (" in text.split("## Time per image")[1] and "110.000" not in text
    assert f"{row['r=0']:.2f} [" in text

