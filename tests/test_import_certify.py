"""`smoothbench import-certify`: certify logs written elsewhere become a suite run only when they are the
suite's own rows (same settings, checkpoint and sigma), and then they equal what `run_suite` writes."""
from pathlib import Path

import pytest

from bench.cli import main
from bench.migrations import lower_for_float32_noise
from bench.models.cifar10_jpeg_zoo import CHECKPOINTS
from bench.records import RADIUS_DIGITS, format_radius, read_run
from bench.runner import import_certify_logs, run_suite
from bench.suite import load_suite, model_spec
from smoothing.architectures import create_architecture
from smoothing.checkpoints import save_checkpoint

DEVICE, VERSION = "test machine", "abc1234"


def certify(suite, out, sigma="0.25", *extra, checkpoint=None):
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
    log = certify(suite, tmp_path / "certify.tsv")
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
    log = certify(suite, tmp_path / "certify.tsv")
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
    log = certify(suite, tmp_path / "certify.tsv", sigma, *extra)
    with pytest.raises(ValueError, match=message):
        import_certify_logs(suite, [log], DEVICE, VERSION, "imported", tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_a_log_of_another_checkpoint_is_refused(suite, tmp_path):
    other = tmp_path / "other.pth.tar"
    save_checkpoint(other, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    log = certify(suite, tmp_path / "certify.tsv", checkpoint=other)
    with pytest.raises(ValueError, match="is none of suite tiny's models"):
        import_certify_logs(suite, [log], DEVICE, VERSION, "imported", tmp_path / "runs")


def test_cli_names_a_missing_settings_file(suite, tmp_path, capsys):
    log = certify(suite, tmp_path / "certify.tsv")
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
    committed = read_run(Path(__file__).parents[1] / "results" / "runs" / suite.name / "cuda-bf16.tsv")
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
    log = edited_log(certify(suite, tmp_path / "certify.tsv"), line, **values)
    with pytest.raises(ValueError, match=f"certify.tsv:{line}: {message}"):
        import_certify_logs(suite, [log], DEVICE, VERSION, "imported", tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_two_logs_of_one_model_and_sigma_are_refused(suite, tmp_path):
    """The second used to be dropped silently."""
    first = certify(suite, tmp_path / "first.tsv")
    second = certify(suite, tmp_path / "second.tsv")
    with pytest.raises(ValueError, match="second.tsv and .*first.tsv both hold .* at sigma 0.25; import one"):
        import_certify_logs(suite, [first, second], DEVICE, VERSION, "imported", tmp_path / "runs")
