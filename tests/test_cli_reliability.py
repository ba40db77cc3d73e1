"""Result files are never lost, mixed or doubled; every user error is one line with exit status 2."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest
from conftest import SUITE
from filelock import FileLock

from bench.cli import describe, main
from bench.runner import run_suite
from bench.suite import load_suite
from smoothing.architectures import create_architecture
from smoothing.checkpoints import save_checkpoint


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "model.pth.tar"
    save_checkpoint(path, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    return path


def certify(checkpoint, out, *extra):
    return main(["certify", "cifar10-embedded", str(checkpoint), "0.25", str(out), "--N0", "10", "--N", "40",
                 "--batch", "40", "--skip", "3", "--max", "7", "--seed", "0", "--device", "cpu", *extra])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line or "Traceback" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_second_writer_is_refused(checkpoint, tmp_path, capsys):
    """Two processes on one output file used to write every row twice and both exit 0."""
    out = tmp_path / "certify.tsv"
    with FileLock(str(out) + ".lock"):  # another process holds the file
        assert certify(checkpoint, out) == 2
        assert "is being written by another smoothbench process" in one_line_error(capsys)
    assert not out.exists()
    assert certify(checkpoint, out) == 0 and len(out.read_text().splitlines()) == 1 + 3


def test_a_second_suite_runner_is_refused(suite, tmp_path):
    path = tmp_path / "runs" / suite.name / "cpu-fp32.tsv"
    path.parent.mkdir(parents=True)
    with FileLock(str(path) + ".lock"), pytest.raises(ValueError, match="being written by another smoothbench process"):
        run_suite(suite, tmp_path / "runs", device="cpu")


def test_bad_arguments_write_nothing(checkpoint, tmp_path, capsys):
    """--overwrite with a bad --alpha used to delete the rows; a failed check left a header-only stub that
    then blocked the corrected rerun."""
    out = tmp_path / "certify.tsv"
    assert certify(checkpoint, out) == 0
    rows, settings = out.read_text(), Path(str(out) + ".settings.json").read_text()
    for bad in (["--alpha", "1.5"], ["--N0", "100"], ["--skip", "0"], ["--max", "0"]):
        assert certify(checkpoint, out, *bad, "--overwrite") == 2
        one_line_error(capsys)
        assert out.read_text() == rows and Path(str(out) + ".settings.json").read_text() == settings
    fresh = tmp_path / "fresh.tsv"
    assert certify(checkpoint, fresh, "--alpha", "1.5") == 2
    assert not fresh.exists() and not Path(str(fresh) + ".settings.json").exists()
    assert certify(checkpoint, fresh, "--alpha", "0.01") == 0


def test_max_zero_says_there_is_nothing_to_certify(checkpoint, tmp_path, capsys):
    assert certify(checkpoint, tmp_path / "o.tsv", "--max", "0") == 2
    assert "selects no image: there is nothing to certify" in one_line_error(capsys)


def test_a_replaced_checkpoint_does_not_resume(checkpoint, tmp_path, capsys):
    """The settings fingerprint the weights: another model saved at the same path starts no mixed file."""
    out = tmp_path / "certify.tsv"
    assert certify(checkpoint, out) == 0
    save_checkpoint(checkpoint, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    assert certify(checkpoint, out) == 2
    assert "checkpoint_sha256 differ" in one_line_error(capsys)


def test_a_suite_with_a_replaced_checkpoint_does_not_resume(suite, tmp_path):
    run_suite(suite, tmp_path / "runs", device="cpu")
    spec_checkpoint = tmp_path / "model.pth.tar"
    save_checkpoint(spec_checkpoint, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    with pytest.raises(ValueError, match="checkpoint_sha256 differ"):
        run_suite(suite, tmp_path / "runs", device="cpu")


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "name with space"])
def test_suite_names_are_names(tmp_path, name):
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.replace('name = "tiny"', f"name = {name!r}".replace("'", '"'))
                    .replace("test-tiny-resnet20", "cifar10-demo-resnet20"))
    with pytest.raises(ValueError, match="name must be a plain name"):
        load_suite(str(path))


def test_run_results_go_where_the_flag_says(suite, tmp_path, capsys):
    """`run --results DIR` used to fail after the run unless DIR was named runs."""
    results = tmp_path / "elsewhere"
    assert main(["run", str(tmp_path / "tiny.toml"), "--results", str(results), "--device", "cpu",
                 "--run-id", "mine"]) == 0
    assert (results / "runs" / suite.name / "mine.tsv").is_file() and (results / "leaderboard.md").is_file()
    assert main(["run", str(tmp_path / "tiny.toml"), "--results", str(results), "--run-id", "../up"]) == 2
    assert "run id must be a plain name" in one_line_error(capsys)


@pytest.mark.parametrize("edit,message", [
    (("n = 60", 'n = "60"'), "n must be an integer, got '60'"),
    (("n = 60", "n = 60.5"), "n must be an integer, got 60.5"),
    (("sigmas = [0.25, 0.5]", "sigmas = []"), "sigmas of .* is empty"),
    (("sigmas = [0.25, 0.5]", 'sigmas = ["0.25"]'), "must be a list of numbers"),
    (("skip = 100", "skip = 0"), "skip must be >= 1"),
    (("skip = 100", "skip = -3"), "skip must be >= 1"),
    (("skip = 100", "skip = 100\nmax = 0"), "there is nothing to certify"),
    (('name = "test-tiny-resnet20"\n', ""), "each \\[\\[models\\]\\] table needs a name"),
    (('certifiers = ["gaussian", "li-renyi", "pixeldp", "lipschitz-margin"]', "certifiers = []"), "certifiers is empty"),
    (("alpha = 0.01", "alpha = true"), "alpha must be a number, got True"),
    (('dataset = "cifar10-embedded"', 'dataset = "cifar100"'), "unknown dataset 'cifar100'"),
])
def test_suite_values_of_the_wrong_type(tmp_path, capsys, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.replace(*edit).replace("test-tiny-resnet20", "cifar10-demo-resnet20"))
    with pytest.raises(ValueError, match=message):
        load_suite(str(path))
    assert main(["run", str(path), "--results", str(tmp_path / "r")]) == 2
    line = one_line_error(capsys)
    assert str(path) in line
    assert not (tmp_path / "r").exists()


def test_errors_name_the_file_in_one_line(checkpoint, tmp_path, capsys):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert certify(checkpoint, folder) == 2  # an output path that is a folder
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
        certify(checkpoint, tmp_path / "o.tsv", "--alpha", "2", "--debug")


def test_interrupt_keeps_rows_and_says_how_to_resume(checkpoint, tmp_path, capsys, monkeypatch):
    from smoothing.core import Smooth

    out = tmp_path / "certify.tsv"
    calls = []
    real = Smooth.certify

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Smooth, "certify", interrupted)
    assert certify(checkpoint, out) == 130
    assert "interrupted; every finished row is kept, rerun the same command to resume" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 1 + 1
    monkeypatch.setattr(Smooth, "certify", real)
    assert certify(checkpoint, out) == 0 and len(out.read_text().splitlines()) == 1 + 3


def test_bounds_at_one_half(capsys):
    """pA = 0.5 certifies nothing under every guarantee; it used to crash the ratio table."""
    assert main(["bounds", "--p-a", "0.5", "0.9"]) == 0
    assert "pixeldp / gaussian" in capsys.readouterr().out
