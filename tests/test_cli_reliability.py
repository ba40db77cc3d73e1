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


@pytest.mark.parametrize("content", [b"hello, I am a text file\n", b"", b"PK\x03\x04 not really a zip",
                                     b"\x80\x02}q\x00."])
def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path, capsys, content):
    """A text file given as a checkpoint printed `error: 101` or `IndexError: pop from empty list`."""
    path = tmp_path / "text.pth.tar"
    path.write_bytes(content)
    assert main(["certify", "cifar10-embedded", str(path), "0.25", str(tmp_path / "o.tsv"), "--max", "1"]) == 2
    line = one_line_error(capsys)
    assert str(path) in line and ("not a PyTorch checkpoint" in line or "expected a dict" in line
                                  or "no 'state_dict'" in line or "does not name its architecture" in line), line


def test_a_checkpoint_whose_arch_is_not_a_name_is_named(tmp_path, capsys):
    import torch

    path = tmp_path / "odd.pth.tar"
    torch.save({"arch": 5, "state_dict": create_architecture("cifar_resnet20", "cifar10").state_dict()}, path)
    assert main(["certify", "cifar10-embedded", str(path), "0.25", str(tmp_path / "o.tsv"), "--max", "1"]) == 2
    assert f"{path} names its architecture as a int, not a name; pass --arch" in one_line_error(capsys)


def test_certify_never_writes_over_its_checkpoint(checkpoint, capsys):
    before = checkpoint.read_bytes()
    assert main(["certify", "cifar10-embedded", str(checkpoint), "0.25", str(checkpoint), "--overwrite", "--max",
                 "1"]) == 2
    assert "is the checkpoint itself" in one_line_error(capsys)
    assert checkpoint.read_bytes() == before


def test_a_full_disk_names_the_file_and_how_to_resume(suite, tmp_path, monkeypatch):
    """ENOSPC and EFBIG named no file and did not say how to resume."""
    import errno

    from bench.tsv import ResumableTSV

    path = tmp_path / "out.tsv"
    with ResumableTSV(path, ["idx", "value"], {}) as out:
        out.write([0, "a"])
        real_flush = out._file.flush

        def full(*_):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(out._file, "flush", full)
        with pytest.raises(ValueError, match=f"{path}: writing a row failed \\(No space left on device\\); every "
                                             "finished row is kept: free disk space .* rerun the same command to resume"):
            out.write([1, "b"])
        monkeypatch.setattr(out._file, "flush", real_flush)


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


@pytest.mark.parametrize("text,message", [
    ("[a]\n" * 0 + "x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("".join(f"unknown{i} = 1\n" for i in range(200_000)), "unknown keys unknown0, unknown1, unknown10"),
])
def test_hostile_suite_files_give_one_short_line(tmp_path, capsys, text, message):
    """A deeply nested TOML raised a RecursionError without the file; 5 MB of unknown keys made a 4.7 MB line."""
    path = tmp_path / "hostile.toml"
    path.write_text(text)
    assert main(["run", str(path), "--results", str(tmp_path / "r")]) == 2
    line = one_line_error(capsys)
    assert str(path) in line and message in line and len(line) < 1000


def test_import_names_a_settings_file_without_its_keys(suite, tmp_path, capsys):
    """import-certify printed `error: N` for a settings file missing N."""
    import json

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
