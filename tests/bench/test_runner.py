"""The runner (bench.runner): suites, certify and predict as one-model suites, import-certify; resume, shards, refusals."""
import csv
import dataclasses
import json
import math
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from filelock import FileLock

from bench.cli import main
from bench.migrations import lower_for_float32_noise
from bench.models.cifar10_jpeg_zoo import CHECKPOINTS
from bench.records import RADIUS_DIGITS, RUN_COLUMNS, format_radius, read_run
from bench.runner import import_certify_logs, pending_units, run_suite
from bench.suite import load_suite, model_spec
from smoothing.architectures import create_architecture
from smoothing.checkpoints import save_checkpoint
from smoothing.core import Smooth
from tests.helpers import REPOSITORY, certify_three, one_line_error


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def certify_every_other(checkpoint, out, *extra):
    return main(["certify", "cifar10-embedded", str(checkpoint), "0.25", str(out), "--N0", "10", "--N", "60",
                 "--batch", "40", "--skip", "2", "--max", "7", "--seed", "0", "--device", "cpu", *extra])


def test_certify_writes_reference_columns(checkpoint, tmp_path):
    out = tmp_path / "certify.tsv"
    assert certify_every_other(checkpoint, out) == 0
    rows = read_rows(out)
    assert list(rows[0]) == ["idx", "label", "predict", "radius", "correct", "time"]
    assert [r["idx"] for r in rows] == ["0", "2", "4", "6"]  # --skip 2, stop before index 7
    assert [r["label"] for r in rows] == ["3", "8", "6", "1"]
    for row in rows:
        assert int(row["correct"]) == (row["predict"] == row["label"])
        assert float(row["radius"]) >= 0 and (row["predict"] != "-1" or row["radius"] == "0.0")


def test_sequential_certify_adds_the_samples_used_and_import_certify_refuses_it(suite, tmp_path, capsys):
    """`certify --sequential true` certifies each image with the recommended scheme and writes the reference's
    columns plus n; the scheme is recorded by name (a fixed-n log records none); import-certify, whose rows take
    the suite's n, refuses such a log."""
    from bench.records import SEQUENTIAL_CERTIFY_COLUMNS

    checkpoint, log = str(suite.model_specs()[0].checkpoint), tmp_path / "sequential.tsv"
    common = ["--N0", "10", "--alpha", "0.01", "--batch", "500", "--skip", "250", "--seed", "3", "--device", "cpu"]
    assert main(["certify", "cifar10-embedded", checkpoint, "0.25", str(log), "--N", "2000", "--sequential", "true",
                 *common]) == 0
    rows = read_rows(log)
    assert list(rows[0]) == SEQUENTIAL_CERTIFY_COLUMNS and len(rows) == 2
    used = [int(row["n"]) for row in rows]
    assert all(1 <= n <= 2000 for n in used) and min(used) < 2000  # the random net votes one class: settled early
    assert all(float(row["radius"]) in [0.25 * k for k in range(20)] for row in rows if row["predict"] != "-1")
    assert json.loads(Path(f"{log}.settings.json").read_text())["sequential"] == "grid"
    fixed = tmp_path / "fixed.tsv"
    assert main(["certify", "cifar10-embedded", checkpoint, "0.25", str(fixed), "--N", "60", *common]) == 0
    assert "sequential" not in json.loads(Path(f"{fixed}.settings.json").read_text())  # older logs still resume
    capsys.readouterr()
    assert main(["import-certify", str(tmp_path / "tiny.toml"), str(log), "--device-name", "x", "--code-version", "y",
                 "--run-id", "z", "--results", str(tmp_path / "r")]) == 2
    assert "import-certify takes fixed-n certify logs into a fixed-n suite" in one_line_error(capsys)


def test_seeded_certify_repeats_and_resumes(checkpoint, tmp_path):
    full, killed = tmp_path / "full.tsv", tmp_path / "killed.tsv"
    certify_every_other(checkpoint, full)
    certify_every_other(checkpoint, killed)
    lines = killed.read_text().splitlines(keepends=True)
    killed.write_text("".join(lines[:3]) + lines[3][:5])  # two finished rows and a torn third
    assert certify_every_other(checkpoint, killed) == 0
    strip_time = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]
    assert strip_time(read_rows(killed)) == strip_time(read_rows(full))


def test_resume_refuses_other_settings(checkpoint, tmp_path, capsys):
    out = tmp_path / "certify.tsv"
    certify_every_other(checkpoint, out)
    assert certify_every_other(checkpoint, out, "--alpha", "0.01") == 2
    assert "exists and was written with other settings" in capsys.readouterr().err
    assert certify_every_other(checkpoint, out, "--alpha", "0.01", "--overwrite") == 0


def test_predict(checkpoint, tmp_path):
    out = tmp_path / "predict.tsv"
    assert main(["predict", "cifar10-embedded", str(checkpoint), "0.5", str(out), "--N", "50", "--batch", "50",
                 "--max", "3", "--device", "cpu"]) == 0
    rows = read_rows(out)
    assert list(rows[0]) == ["idx", "label", "predict", "correct", "time"] and len(rows) == 3


@pytest.mark.parametrize("extra,message", [
    (["--N0", "100"], "n0 must lie in [1, n]: n0=100, n=60"),
    (["--alpha", "1.5", "--overwrite"], "alpha must lie in (0, 1)"),
])
def test_cli_errors(checkpoint, tmp_path, capsys, extra, message):
    assert certify_every_other(checkpoint, tmp_path / "x.tsv", *extra) == 2
    assert message in capsys.readouterr().err


def test_cli_missing_checkpoint_and_sigma(tmp_path, capsys):
    assert main(["certify", "cifar10-embedded", str(tmp_path / "none.pth"), "0.25", str(tmp_path / "o.tsv")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    save_checkpoint(tmp_path / "m.pth", create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    assert main(["certify", "cifar10-embedded", str(tmp_path / "m.pth"), "0", str(tmp_path / "o.tsv")]) == 2
    assert "sigma must be a positive number" in capsys.readouterr().err


def test_certified_accuracy(tmp_path):
    from bench.report.tables import certified_accuracy
    from bench.runner import certified_accuracy_summary

    path = tmp_path / "c.tsv"
    path.write_text("idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t1\t1\t0.6\t1\t1.0\n"
                    "1\t2\t-1\t0.0\t0\t1.0\n2\t3\t3\t0.3\t1\t1.0\n3\t4\t5\t0.9\t0\t1.0\n")
    assert certified_accuracy(pd.read_csv(path, sep="\t"), (0.0, 0.3, 0.5, 1.0)) == [0.5, 0.5, 0.25, 0.0]
    assert "4 images, 1 abstentions" in certified_accuracy_summary(path)


def test_a_second_suite_runner_is_refused(suite, tmp_path):
    path = tmp_path / "runs" / suite.name / "cpu-fp32.tsv"
    path.parent.mkdir(parents=True)
    with FileLock(str(path) + ".lock"), pytest.raises(ValueError, match="being written by another smoothbench process"):
        run_suite(suite, tmp_path / "runs", device="cpu")


def test_bad_arguments_write_nothing(checkpoint, tmp_path, capsys):
    """--overwrite with a bad --alpha used to delete the rows; a failed check left a header-only stub that
    then blocked the corrected rerun."""
    out = tmp_path / "certify.tsv"
    assert certify_three(checkpoint, out) == 0
    rows, settings = out.read_text(), Path(str(out) + ".settings.json").read_text()
    for bad in (["--alpha", "1.5"], ["--N0", "100"], ["--skip", "0"], ["--max", "0"]):
        assert certify_three(checkpoint, out, *bad, "--overwrite") == 2
        one_line_error(capsys)
        assert out.read_text() == rows and Path(str(out) + ".settings.json").read_text() == settings
    fresh = tmp_path / "fresh.tsv"
    assert certify_three(checkpoint, fresh, "--alpha", "1.5") == 2
    assert not fresh.exists() and not Path(str(fresh) + ".settings.json").exists()
    assert certify_three(checkpoint, fresh, "--alpha", "0.01") == 0


def test_max_zero_says_there_is_nothing_to_certify(checkpoint, tmp_path, capsys):
    assert certify_three(checkpoint, tmp_path / "o.tsv", "--max", "0") == 2
    assert "selects no image: there is nothing to certify" in one_line_error(capsys)


def test_a_replaced_checkpoint_does_not_resume(checkpoint, tmp_path, capsys):
    """The settings fingerprint the weights: another model saved at the same path starts no mixed file."""
    out = tmp_path / "certify.tsv"
    assert certify_three(checkpoint, out) == 0
    save_checkpoint(checkpoint, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    assert certify_three(checkpoint, out) == 2
    assert "checkpoint_sha256 differ" in one_line_error(capsys)


def test_a_suite_with_a_replaced_checkpoint_does_not_resume(suite, tmp_path):
    run_suite(suite, tmp_path / "runs", device="cpu")
    spec_checkpoint = tmp_path / "model.pth.tar"
    save_checkpoint(spec_checkpoint, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    with pytest.raises(ValueError, match="checkpoint_sha256 differ"):
        run_suite(suite, tmp_path / "runs", device="cpu")


def test_run_results_go_where_the_flag_says(suite, tmp_path, capsys):
    """`run --results DIR` used to fail after the run unless DIR was named runs."""
    results = tmp_path / "elsewhere"
    assert main(["run", str(tmp_path / "tiny.toml"), "--results", str(results), "--device", "cpu",
                 "--run-id", "mine"]) == 0
    assert (results / "runs" / suite.name / "mine.tsv").is_file() and (results / "leaderboard.md").is_file()
    assert main(["run", str(tmp_path / "tiny.toml"), "--results", str(results), "--run-id", "../up"]) == 2
    assert "run id must be a plain name" in one_line_error(capsys)


def test_interrupt_keeps_rows_and_says_how_to_resume(checkpoint, tmp_path, capsys, monkeypatch):

    out = tmp_path / "certify.tsv"
    calls = []
    real = Smooth.certify

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Smooth, "certify", interrupted)
    assert certify_three(checkpoint, out) == 130
    assert "interrupted; every finished row is kept, rerun the same command to resume" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 1 + 1
    monkeypatch.setattr(Smooth, "certify", real)
    assert certify_three(checkpoint, out) == 0 and len(out.read_text().splitlines()) == 1 + 3


def test_certify_never_writes_over_its_checkpoint(checkpoint, capsys):
    before = checkpoint.read_bytes()
    assert main(["certify", "cifar10-embedded", str(checkpoint), "0.25", str(checkpoint), "--overwrite", "--max",
                 "1"]) == 2
    assert "is the checkpoint itself" in one_line_error(capsys)
    assert checkpoint.read_bytes() == before


def test_an_output_folder_removed_mid_run_is_named(suite, tmp_path, monkeypatch, capsys):
    """It used to print `No objects to concatenate` after writing the rows into a deleted file."""
    import shutil

    from bench.tsv import ResumableTSV

    real_write = ResumableTSV.write
    calls = []

    def write_then_delete(self, row):
        real_write(self, row)
        calls.append(1)
        if len(calls) == 3:
            shutil.rmtree(self.path.parent)

    monkeypatch.setattr(ResumableTSV, "write", write_then_delete)
    assert main(["run", str(tmp_path / "tiny.toml"), "--results", str(tmp_path / "results"), "--device", "cpu"]) == 2
    assert "was removed while rows were written to it; rerun the same command" in one_line_error(capsys)


def test_import_names_a_settings_file_without_its_keys(suite, tmp_path, capsys):
    """import-certify printed `error: N` for a settings file missing N."""

    log = tmp_path / "certify.tsv"
    assert main(["certify", "cifar10-embedded", str(suite.model_specs()[0].checkpoint), "0.25", str(log), "--N0", "10",
                 "--N", "60", "--alpha", "0.01", "--batch", "40", "--skip", "100", "--seed", "3", "--device",
                 "cpu"]) == 0
    settings = Path(str(log) + ".settings.json")
    values = json.loads(settings.read_text())
    del values["N"]
    settings.write_text(json.dumps(values))
    capsys.readouterr()
    assert main(["import-certify", str(tmp_path / "tiny.toml"), str(log), "--device-name", "x", "--code-version", "y",
                 "--run-id", "z", "--results", str(tmp_path / "r")]) == 2
    assert f"{settings}: settings without N: not the settings of a smoothbench certify" in one_line_error(capsys)


SHARDED_SUITE = """
name = "sharded"
dataset = "cifar10-embedded"
skip = 125
certifiers = ["gaussian", "pixeldp", "lipschitz-margin"]
n0 = 10
n = 50
alpha = 0.01
batch = 30
seed = 5

[[models]]
name = "inline-resnet20"
dataset = "cifar10"
checkpoint = "CHECKPOINT"
train_sigma = 0.25
sigmas = [0.25, 0.5]
"""


def test_two_gloo_processes_equal_one(tmp_path):
    checkpoint = tmp_path / "model.pth.tar"
    save_checkpoint(checkpoint, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    suite_file = tmp_path / "sharded.toml"
    suite_file.write_text(SHARDED_SUITE.replace("CHECKPOINT", str(checkpoint)))
    single = read_run(run_suite(load_suite(str(suite_file)), tmp_path / "single" / "runs", device="cpu"))

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "bench.cli", "run", str(suite_file), "--results", str(tmp_path / "sharded"),
               "--device", "cpu"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    rank_files = sorted((tmp_path / "sharded" / "runs" / "sharded").glob("*.tsv"))
    assert [p.name for p in rank_files] == ["cpu-fp32.rank0-of-2.tsv", "cpu-fp32.rank1-of-2.tsv"]
    ranks = [read_run(p) for p in rank_files]
    assert all(len(r) > 0 for r in ranks)
    key = ["model", "certifier", "sigma", "idx"]
    # Everything but timing, code version and the device string (torchrun gives each rank one thread).
    order = lambda f: f.drop(columns=["seconds", "code_version", "device"]).sort_values(key).reset_index(drop=True)
    assert order(pd.concat(ranks)).equals(order(single))
    assert (tmp_path / "sharded" / "leaderboard.md").is_file()  # rank 0 regenerated it after the barrier


def test_cli_batch_auto_and_fast_path(tmp_path, capsys):
    checkpoint = tmp_path / "model.pth.tar"
    save_checkpoint(checkpoint, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    out = tmp_path / "certify.tsv"
    arguments = ["certify", "cifar10-embedded", str(checkpoint), "0.25", str(out), "--N0", "10", "--N", "50",
                 "--max", "2", "--device", "cpu", "--channels-last"]
    assert main([*arguments, "--batch", "auto"]) == 0
    assert "batch size: " in capsys.readouterr().err and len(out.read_text().splitlines()) == 3
    assert main([*arguments, "--batch", "many"]) == 2
    assert 'batch size must be a positive integer or "auto", got \'many\'' in capsys.readouterr().err


def test_runner_records_the_fast_path(suite, tmp_path):
    fast = suite.with_overrides(dict(batch="auto", channels_last=True, certifiers=["gaussian"]))
    frame = read_run(run_suite(fast, tmp_path / "runs", device="cpu"))
    assert (frame["channels_last"] == 1).all() and (frame["compile"] == 0).all()
    assert frame["batch"].nunique() == 1 and int(frame["batch"].iloc[0]) >= 1  # read as text: "" for deterministic rows


DEVICE, VERSION = "test machine", "abc1234"


def certify_like_the_suite(suite, out, sigma="0.25", *extra, checkpoint=None):
    """`smoothbench certify` with the tiny suite's settings (conftest.SUITE) unless `extra` replaces some."""
    flags = dict(zip(["--N0", "--N", "--alpha", "--batch", "--skip", "--seed"], ["10", "60", "0.01", "40", "100", "3"]))
    flags.update(zip(extra[::2], extra[1::2]))
    checkpoint = checkpoint or model_spec(suite.models[0]).checkpoint
    args = ["certify", "cifar10-embedded", str(checkpoint), sigma, str(out), "--device", "cpu"]
    for flag, value in flags.items():
        args += [] if value is None else [flag, value]  # None: leave the flag out
    assert main(args) == 0
    return out


def test_imported_rows_are_the_runs_gaussian_rows(suite, tmp_path):
    log = certify_like_the_suite(suite, tmp_path / "certify.tsv")
    path, added = import_certify_logs(suite, [log], DEVICE, VERSION, "imported", tmp_path / "imported")
    imported = read_run(path)
    assert added == len(imported) == 5 and set(imported["certifier"]) == {"gaussian"}
    assert set(imported["device"]) == {DEVICE} and set(imported["code_version"]) == {VERSION}
    ran = read_run(run_suite(suite, tmp_path / "ran", device="cpu"))
    ran = ran[(ran["certifier"] == "gaussian") & (ran["sigma"] == 0.25)].set_index("idx")
    for row in imported.itertuples():
        assert row.predict == ran.loc[row.idx, "predict"] and row.label == ran.loc[row.idx, "label"]
        assert row.radius == float(format_radius(ran.loc[row.idx, "radius"]))  # the log's 3 digits, rounded down
        assert row.n0 == 10 and row.n == 60 and row.alpha == 0.01 and row.seed == 3 and row.batch == 40


def test_import_resumes_and_a_later_run_completes_it(suite, tmp_path):
    log = certify_like_the_suite(suite, tmp_path / "certify.tsv")
    runs = tmp_path / "runs"
    import_certify_logs(suite, [log], DEVICE, VERSION, "cpu-fp32", runs)
    path, added = import_certify_logs(suite, [log], DEVICE, VERSION, "cpu-fp32", runs)
    assert added == 0
    frame = read_run(run_suite(suite, runs, device="cpu"))  # same run id: resumes, keeps the imported rows
    assert not frame.duplicated(["model", "certifier", "sigma", "idx"]).any()
    assert len(frame) == 5 * (2 * 3 + 1)
    assert (frame["device"] == DEVICE).sum() == 5


@pytest.mark.parametrize("extra,sigma,message", [
    (("--N", "80"), "0.25", "certified with n = 80, suite tiny has n = 60"),
    (("--alpha", "0.001", "--skip", "50"), "0.25", "skip = 50, alpha = 0.001"),
    (("--seed", None), "0.25", "seed = None"),
    ((), "0.3", "sigma 0.3 with the gaussian certifier is not in suite tiny"),
])
def test_a_log_that_is_not_the_suites_is_refused(suite, tmp_path, extra, sigma, message):
    log = certify_like_the_suite(suite, tmp_path / "certify.tsv", sigma, *extra)
    with pytest.raises(ValueError, match=message):
        import_certify_logs(suite, [log], DEVICE, VERSION, "imported", tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_a_log_of_another_checkpoint_is_refused(suite, tmp_path):
    other = tmp_path / "other.pth.tar"
    save_checkpoint(other, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    log = certify_like_the_suite(suite, tmp_path / "certify.tsv", checkpoint=other)
    with pytest.raises(ValueError, match="is none of suite tiny's models"):
        import_certify_logs(suite, [log], DEVICE, VERSION, "imported", tmp_path / "runs")


def test_cli_names_a_missing_settings_file(suite, tmp_path, capsys):
    log = certify_like_the_suite(suite, tmp_path / "certify.tsv")
    Path(str(log) + ".settings.json").unlink()
    capsys.readouterr()  # certify's progress bar
    code = main(["import-certify", str(tmp_path / "tiny.toml"), str(log), "--device-name", DEVICE,
                 "--code-version", VERSION, "--run-id", "imported", "--results", str(tmp_path / "results")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1 and "certify.tsv.settings.json not found" in error


def test_the_committed_gpu_run_is_its_certify_logs(tmp_path, shared):
    """The committed H100 rows come from the committed certify logs of the committed checkpoints (by sha256)."""
    logs = sorted(CHECKPOINTS.glob("cifar10-jpeg-resnet110/noise*/certify_n10000.tsv"))
    suite = load_suite("cifar10-jpeg-resnet110")
    device = "NVIDIA H100 80GB HBM3 (4 processes sharing it)"
    path, added = import_certify_logs(suite, logs, device, "e6a97a1", "cuda-bf16", tmp_path, shared / "data")
    committed = read_run(REPOSITORY / "results" / "runs" / suite.name / "cuda-bf16.tsv")
    assert added == len(committed) == 4 * 500
    # Migrated once for the float32 noise the H100 drew (bench.migrations): lowered radii, all else equal.
    imported = read_run(path)
    lowered = lower_for_float32_noise(imported, 3 * 32 * 32, "cuda")
    radii = lowered["radius"].map(lambda r: float(format_radius(r, RADIUS_DIGITS)))
    assert radii.equals(committed["radius"]) and (committed["radius"] <= imported["radius"]).all()
    assert imported.drop(columns="radius").equals(committed.drop(columns="radius"))


def edited_log(log: Path, line: int, **values) -> Path:
    """The certify log with some fields of one line (2 = the first row) replaced; a callable value is given
    the line's fields by column."""
    lines = log.read_text().splitlines()
    header = lines[0].split("\t")
    fields = lines[line - 1].split("\t")
    original = dict(zip(header, fields))
    for column, value in values.items():
        fields[header.index(column)] = str(value(original) if callable(value) else value)
    lines[line - 1] = "\t".join(fields)
    log.write_text("\n".join(lines) + "\n")
    return log


@pytest.mark.parametrize("line,values,message", [
    (3, dict(radius=5.0), "impossible row: radius 5 exceeds 0.36187, the largest that n = 60 samples certify"),
    (3, dict(radius="nan"), "impossible row: radius nan is not a number >= 0"),
    (2, dict(predict=-1, radius=0.0, correct=1), r"impossible row: an abstention \(predict = -1\) marked correct"),
    (4, dict(idx=150), "image 150 is not one suite tiny certifies"),
    (4, dict(idx=100000), "image 100000 is not one suite tiny certifies"),
    (2, dict(label=lambda row: 8 if row["predict"] == "9" else 9, correct=0),
     "image 0 has label 3 in cifar10-embedded, the log says [89]"),
])
def test_impossible_log_rows_are_refused_with_file_and_line(suite, tmp_path, line, values, message):
    """import-certify accepted a radius above what n, alpha and sigma allow, an abstention marked correct, an
    image the suite does not select or beyond the dataset, and a NaN radius (with an InvalidOperation)."""
    log = edited_log(certify_like_the_suite(suite, tmp_path / "certify.tsv"), line, **values)
    with pytest.raises(ValueError, match=f"certify.tsv:{line}: {message}"):
        import_certify_logs(suite, [log], DEVICE, VERSION, "imported", tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_two_logs_of_one_model_and_sigma_are_refused(suite, tmp_path):
    """The second used to be dropped silently."""
    first = certify_like_the_suite(suite, tmp_path / "first.tsv")
    second = certify_like_the_suite(suite, tmp_path / "second.tsv")
    with pytest.raises(ValueError, match="second.tsv and .*first.tsv both hold .* at sigma 0.25; import one"):
        import_certify_logs(suite, [first, second], DEVICE, VERSION, "imported", tmp_path / "runs")


def test_suite_end_to_end(suite, tmp_path):
    path = run_suite(suite, tmp_path / "runs", device="cpu")
    frame = read_run(path)
    assert list(frame.columns) == RUN_COLUMNS
    # 5 images x (2 sigmas x 3 smoothing certifiers + 1 deterministic certifier)
    assert len(frame) == 5 * (2 * 3 + 1)
    assert (path.parent / "cpu-fp32.manifest.json").is_file()
    smoothing = frame[frame.certifier != "lipschitz-margin"]
    for _, group in smoothing.groupby(["sigma", "idx"]):  # one pass: same prediction and time for all three
        assert group.predict.nunique() == 1 and group.seconds.nunique() == 1
        radii = group.set_index("certifier").radius
        assert radii["pixeldp"] <= radii["li-renyi"] <= radii["gaussian"]
    assert frame[frame.certifier == "lipschitz-margin"].sigma.isna().all()


def test_a_resumed_loop_yields_only_unfinished_images_and_its_bar_starts_at_the_finished_count(capsys):
    """The bar counts finished images as done before it starts, so its rate and time left are the new work's.
    Counted as they were skipped, a run resumed after 144 images showed 1.5 images/s and 4 minutes left for
    about 1.4 hours of work."""
    out = types.SimpleNamespace(done={0, 1, 3})
    pending = list(pending_units(range(5), out, lambda unit: [unit], "resumed"))
    assert pending == [(2, [2]), (4, [4])]
    bar = capsys.readouterr().err
    assert "3/5" in bar.split("\r")[1] and "5/5" in bar and "0/5" not in bar


def test_resume_after_a_kill_loses_and_duplicates_nothing(suite, tmp_path):
    full = read_run(run_suite(suite, tmp_path / "full", device="cpu"))
    path = run_suite(suite, tmp_path / "killed", device="cpu")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:12]) + lines[12][:30])  # 11 finished rows and a torn one
    resumed = read_run(run_suite(suite, tmp_path / "killed", device="cpu"))
    key = ["model", "certifier", "sigma", "idx"]
    assert not resumed.duplicated(key).any()
    drop = ["seconds", "code_version"]
    order = lambda f: f.drop(columns=drop).sort_values(key).reset_index(drop=True)
    assert order(resumed).equals(order(full))


def test_resume_refuses_a_changed_suite(suite, tmp_path):
    run_suite(suite, tmp_path / "runs", device="cpu")
    changed = dataclasses.replace(suite, text=suite.text.replace("n = 60", "n = 80"), n=80)
    with pytest.raises(ValueError, match="written with other settings"):
        run_suite(changed, tmp_path / "runs", device="cpu")


def test_models_may_name_their_own_certifiers(suite, tmp_path):
    """A Lipschitz-margin model needs no sigma: a model's `certifiers` key replaces the suite's list."""
    text = suite.text.replace("sigmas = [0.25, 0.5]", 'sigmas = [0.25]\ncertifiers = ["gaussian"]') + (
        f'\n[[models]]\nname = "{suite.models[0]["name"]}-lmt"\ncheckpoint = "{tmp_path / "model.pth.tar"}"\n'
        'dataset = "cifar10"\ncertifiers = ["lipschitz-margin"]\n')
    path = tmp_path / "own.toml"
    path.write_text(text)
    frame = read_run(run_suite(load_suite(str(path)), tmp_path / "runs", device="cpu"))
    by_model = frame.groupby("model").certifier.unique()
    assert list(by_model[suite.models[0]["name"]]) == ["gaussian"]
    assert list(by_model[suite.models[0]["name"] + "-lmt"]) == ["lipschitz-margin"]
    assert len(frame) == 5 + 5
    path.write_text(text.replace('certifiers = ["lipschitz-margin"]', 'certifiers = ["gaussian"]'))
    with pytest.raises(ValueError, match="-lmt is empty or missing: its smoothing certifiers need"):
        load_suite(str(path))


def test_command_line_overrides_any_key(suite, tmp_path, capsys):
    """`smoothbench run SUITE --n 80 --precision bf16 --no-compile` replaces those keys, validates them,
    names the run after them and records them in the settings and the manifest."""

    assert main(["run", str(tmp_path / "tiny.toml"), "--results", str(tmp_path), "--device", "cpu", "--n", "80",
                 "--precision", "bf16", "--certifiers", "gaussian", "--no-compile"]) == 0
    path = tmp_path / "runs" / suite.name / "cpu-bf16-certifiersgaussian-compileFalse-n80.tsv"
    frame = read_run(path)
    assert set(frame.n) == {80} and set(frame.precision) == {"bf16"} and set(frame.certifier) == {"gaussian"}
    manifest = json.loads(path.with_name(path.name.replace(".tsv", ".manifest.json")).read_text())
    assert manifest["overrides"] == {"n": 80, "precision": "bf16", "certifiers": ["gaussian"], "compile": False}
    assert json.loads(Path(str(path) + ".settings.json").read_text())["overrides"]["n"] == 80
    capsys.readouterr()
    assert main(["run", str(tmp_path / "tiny.toml"), "--results", str(tmp_path), "--n0", "500"]) == 2
    err = capsys.readouterr().err
    assert "with --n0 500: n0 must lie in [1, n]" in err and len(err.strip().splitlines()) == 1


def test_a_refused_run_leaves_no_manifest(suite, tmp_path):
    """The manifest used to be written before the first image, so a run refused there left one behind."""
    broken = dataclasses.replace(suite, models=[{**suite.models[0], "name": "broken", "checkpoint": str(tmp_path / "x"),
                                                 "dataset": "cifar10"}])
    (tmp_path / "x").write_text("not a checkpoint")
    with pytest.raises(ValueError):
        run_suite(broken, tmp_path / "runs", device="cpu")
    assert not list((tmp_path / "runs").rglob("*.manifest.json"))


def test_resuming_into_a_file_with_another_suites_row_is_refused(suite, tmp_path):
    path = run_suite(suite, tmp_path / "runs", device="cpu")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3]) + lines[3].replace(f"{suite.name}\t", "another-suite\t", 1))
    with pytest.raises(ValueError, match=f"{path.name}:4: impossible row: suite another-suite"):
        run_suite(suite, tmp_path / "runs", device="cpu")


def test_resuming_with_another_process_count_is_refused(suite, tmp_path):
    """A run killed under torchrun with 2 processes and resumed with 3 wrote images twice."""
    from smoothing.devices import Shard

    run_suite(suite, tmp_path / "runs", device="cpu", shard=Shard(0, 2))
    with pytest.raises(ValueError, match="was started with 2 process.*resume it with 2"):
        run_suite(suite, tmp_path / "runs", device="cpu", shard=Shard(1, 3))
    with pytest.raises(ValueError, match="was started with 2 process"):
        run_suite(suite, tmp_path / "runs", device="cpu")
    run_suite(suite, tmp_path / "runs", device="cpu", shard=Shard(1, 2))  # the same count resumes


def test_sequential_suite_records_samples_used(suite, tmp_path):
    from bench.records import read_run
    from bench.runner import run_suite

    # The random ResNet-20 votes one class on every sample; with n = 2000 its cells settle before n.
    sequential = suite.with_overrides(dict(sequential="grid", certifiers=["gaussian", "li-renyi"], n=2000, batch=500,
                                           skip=250))
    frame = read_run(run_suite(sequential, tmp_path / "runs", device="cpu"))
    used = frame["n"].astype(int)
    assert used.between(1, 2000).all() and (used < 2000).any()
    for _, group in frame.groupby(["sigma", "idx"]):  # one sequential pass feeds both certifiers
        assert group["n"].nunique() == 1 and group["predict"].nunique() == 1
    gaussian = frame[(frame["certifier"] == "gaussian") & (frame["predict"] >= 0)]
    assert gaussian["radius"].isin([0.25 * k for k in range(20)]).all()  # the grid scheme certifies grid radii
    assert math.isfinite(gaussian["radius"].max())


def test_sequential_true_runs_the_recommended_scheme_and_a_run_resumes_only_with_it(suite, tmp_path):
    from bench.tsv import read_settings, settings_path
    from smoothing.sequential import RECOMMENDED

    chosen = suite.with_overrides(dict(sequential=True, certifiers=["gaussian"], n=2000, batch=500, skip=250))
    assert chosen.scheme() == RECOMMENDED == "grid"
    path = run_suite(chosen, tmp_path / "runs", device="cpu")
    assert read_settings(path)["scheme"] == RECOMMENDED
    certified = read_run(path).query("predict >= 0")["radius"]
    assert len(certified) and certified.isin([0.25 * k for k in range(20)]).all()  # grid radii: the grid scheme ran
    # a run started when `true` meant another scheme is not continued with this one
    settings_path(path).write_text(json.dumps(dict(read_settings(path), scheme="staged")))
    with pytest.raises(ValueError, match="written with other settings"):
        run_suite(chosen, tmp_path / "runs", device="cpu")

