import csv

import pandas as pd
import pytest

from bench.cli import main
from bench.records import format_radius
from smoothing.architectures import create_architecture
from smoothing.checkpoints import save_checkpoint


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "model.pth.tar"
    save_checkpoint(path, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    return path


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def certify(checkpoint, out, *extra):
    return main(["certify", "cifar10-embedded", str(checkpoint), "0.25", str(out), "--N0", "10", "--N", "60",
                 "--batch", "40", "--skip", "2", "--max", "7", "--seed", "0", "--device", "cpu", *extra])


def test_certify_writes_reference_columns(checkpoint, tmp_path):
    out = tmp_path / "certify.tsv"
    assert certify(checkpoint, out) == 0
    rows = read_rows(out)
    assert list(rows[0]) == ["idx", "label", "predict", "radius", "correct", "time"]
    assert [r["idx"] for r in rows] == ["0", "2", "4", "6"]  # --skip 2, stop before index 7
    assert [r["label"] for r in rows] == ["3", "8", "6", "1"]
    for row in rows:
        assert int(row["correct"]) == (row["predict"] == row["label"])
        assert float(row["radius"]) >= 0 and (row["predict"] != "-1" or row["radius"] == "0.0")


def test_seeded_certify_repeats_and_resumes(checkpoint, tmp_path):
    full, killed = tmp_path / "full.tsv", tmp_path / "killed.tsv"
    certify(checkpoint, full)
    certify(checkpoint, killed)
    lines = killed.read_text().splitlines(keepends=True)
    killed.write_text("".join(lines[:3]) + lines[3][:5])  # two finished rows and a torn third
    assert certify(checkpoint, killed) == 0
    strip_time = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]
    assert strip_time(read_rows(killed)) == strip_time(read_rows(full))


def test_resume_refuses_other_settings(checkpoint, tmp_path, capsys):
    out = tmp_path / "certify.tsv"
    certify(checkpoint, out)
    assert certify(checkpoint, out, "--alpha", "0.01") == 2
    assert "exists and was written with other settings" in capsys.readouterr().err
    assert certify(checkpoint, out, "--alpha", "0.01", "--overwrite") == 0


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
    assert certify(checkpoint, tmp_path / "x.tsv", *extra) == 2
    assert message in capsys.readouterr().err


def test_cli_missing_checkpoint_and_sigma(tmp_path, capsys):
    assert main(["certify", "cifar10-embedded", str(tmp_path / "none.pth"), "0.25", str(tmp_path / "o.tsv")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    save_checkpoint(tmp_path / "m.pth", create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    assert main(["certify", "cifar10-embedded", str(tmp_path / "m.pth"), "0", str(tmp_path / "o.tsv")]) == 2
    assert "sigma must be a positive number" in capsys.readouterr().err


def test_format_radius_never_rounds_up():
    assert format_radius(0.37869) == "0.378"
    assert format_radius(2.32635) == "2.32"
    assert format_radius(1.0) == "1.0"
    assert format_radius(0.0) == "0.0"
    assert format_radius(0.123456789, 6) == "0.123456"
    for radius in [0.0123456, 0.99999, 3.14159, 0.5, 3.48473e-12]:
        assert float(format_radius(radius)) <= radius and float(format_radius(radius, 6)) <= radius


def test_certified_accuracy(tmp_path):
    from bench.report.tables import certified_accuracy
    from bench.runner import certified_accuracy_summary

    path = tmp_path / "c.tsv"
    path.write_text("idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t1\t1\t0.6\t1\t1.0\n"
                    "1\t2\t-1\t0.0\t0\t1.0\n2\t3\t3\t0.3\t1\t1.0\n3\t4\t5\t0.9\t0\t1.0\n")
    assert certified_accuracy(pd.read_csv(path, sep="\t"), (0.0, 0.3, 0.5, 1.0)) == [0.5, 0.5, 0.25, 0.0]
    assert "4 images, 1 abstentions" in certified_accuracy_summary(path)
