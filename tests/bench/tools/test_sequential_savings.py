"""Samples sequential CERTIFY saves on real images (bench.tools.sequential_savings): resumable, checked first."""
from bench.cli import main
from tests.helpers import one_line_error


def test_sequential_savings_checks_everything_before_its_first_row(tmp_path, capsys):
    """--stages 0 used to write a row, then refuse and suggest an --overwrite the command did not have."""
    out = tmp_path / "savings.tsv"
    assert main(["sequential-savings", "--images", "1", "--n", "50", "--n0", "100", "--out", str(out)]) == 2
    assert "n0 must lie in [1, n]" in one_line_error(capsys) and not out.exists()
    assert main(["sequential-savings", "--images", "1", "--scheme", "gird", "--out", str(out)]) == 2
    assert "unknown sequential scheme 'gird'. Did you mean 'grid'" in one_line_error(capsys) and not out.exists()
    assert main(["sequential-savings", "--images", "1", "--n0", "10", "--n", "50", "--batch", "50", "--out",
                 str(out)]) == 0
    capsys.readouterr()
    assert main(["sequential-savings", "--images", "1", "--n0", "10", "--n", "60", "--batch", "50", "--out",
                 str(out)]) == 2
    assert "pass --overwrite" in one_line_error(capsys)
    assert main(["sequential-savings", "--images", "1", "--n0", "10", "--n", "60", "--batch", "50", "--out",
                 str(out), "--overwrite"]) == 0


def test_savings_benchmark_resumes_after_a_kill(tmp_path):
    """bench.tools.sequential_savings writes each row as it finishes; a run cut mid-row resumes to the same rows."""
    from bench.tools.sequential_savings import compare

    out = tmp_path / "savings.tsv"
    run = lambda: compare("cifar10-jpeg-resnet20-noise0.25", "cifar10-embedded", 0.25, images=2, skip=25, n0=20, n=300,
                          alpha=0.001, batch=100, scheme="grid", out=out)
    complete = run()
    assert list(complete["method"]) == ["certify", "sequential"] * 2
    assert (complete["samples"] <= 320).all() and (complete["samples"] > 20).all()
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:-2]) + lines[-2][:10])  # killed while writing the third row
    resumed = run()
    columns = ["method", "idx", "predict", "radius", "samples"]
    assert resumed[columns].equals(complete[columns])

