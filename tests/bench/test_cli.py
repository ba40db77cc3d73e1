"""The command line (bench.cli): every user error is one line with exit status 2; flags that would do nothing are refused."""
import pytest

from bench.cli import describe, main
from tests.helpers import certify_three, one_line_error


def test_errors_name_the_file_in_one_line(checkpoint, tmp_path, capsys):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert certify_three(checkpoint, folder) == 2  # an output path that is a folder
    assert f"{folder} is a folder" in one_line_error(capsys)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00name")
    assert main(["run", str(binary)]) == 2
    assert str(binary) in one_line_error(capsys)
    log = tmp_path / "log.tsv"
    log.write_bytes(b"\xff\xfe\x00idx")
    assert main(["table", str(log)]) == 2
    assert str(log) in one_line_error(capsys)
    assert main(["certify", "cifar10-embedded", str(checkpoint), "0.25", str(tmp_path / "o.tsv"),
                 "--device", "tpu"]) == 2
    assert "device 'tpu' does not exist on this machine; choose one of auto, cpu" in one_line_error(capsys)


def test_os_errors_are_described_with_their_file():
    assert describe(OSError(28, "No space left on device", "results/out.tsv")) == (
        "results/out.tsv: No space left on device; check the path and its permissions")
    assert describe(PermissionError(13, "Permission denied", "/root/x")).startswith("/root/x: Permission denied")
    assert describe(KeyError("unknown model 'x'")) == "unknown model 'x'"
    assert "TypeError: bad (rerun with --debug" in describe(TypeError("bad"))


def test_debug_shows_the_traceback(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="alpha must lie in"):
        certify_three(checkpoint, tmp_path / "o.tsv", "--alpha", "2", "--debug")


@pytest.mark.parametrize("argv,message", [
    (["audit", "gaussian", "CKPT", "--sigma", "0.25", "--steps", "0"], "argument --steps: expected a positive integer"),
    (["audit", "gaussian", "CKPT", "--sigma", "0.25", "--samples", "0"],
     "argument --samples: expected a positive integer"),
    (["sequential-savings", "--images", "-1", "--out", "OUT"], "argument --images: expected a positive integer"),
    (["throughput", "--certify-images", "0"], "argument --certify-images: expected a positive integer"),
    (["throughput", "--batch", "0"], "argument --batch: expected a positive integer"),
    (["evaluate", "CKPT", "--noise-sd", "-1"], "argument --noise-sd: expected a number >= 0, got '-1'"),
    (["table", "LOG", "--radii", "nan"], "argument --radii: expected a number >= 0, got 'nan'"),
    (["table", "LOG", "--radii", "-1"], "argument --radii: expected a number >= 0, got '-1'"),
    (["table", "LOG", "--radius-step", "0"], "argument --radius-step: expected a positive number"),
    (["table", "LOG", "--radius-step", "-0.25"], "argument --radius-step: expected a positive number"),
    (["table", "LOG", "--radius-step", "1e-8"], "makes 125,000,001 radii; choose a start <= stop and a step"),
    (["lipschitz", "CKPT", "--radii", "-1"], "argument --radii: expected a number >= 0, got '-1'"),
])
def test_flags_that_would_do_nothing_are_refused(checkpoint, tmp_path, capsys, argv, message):
    """Each used to run (or print a success) doing nothing or something else: `audit --steps 0` reported
    0 successes of an attack that never ran, `sequential-savings --images -1` certified all 500 images,
    `throughput --certify-images 0` measured samples/s, `--radius-step 1e-8` ran for minutes."""
    log = tmp_path / "log.tsv"
    log.write_text("idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t3\t3\t0.5\t1\t1.0\n")
    argv = [str(checkpoint) if a == "CKPT" else str(log) if a == "LOG" else str(tmp_path / "o.tsv") if a == "OUT"
            else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "o.tsv").exists()

