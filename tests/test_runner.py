import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest
from conftest import SUITE

from bench.cli import main
from bench.records import RUN_COLUMNS, key_of_fields, read_run
from bench.runner import run_suite
from bench.suite import load_suite
from bench.tsv import read_settings


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


@pytest.mark.parametrize("edit,message", [
    (("gaussian", "gausian"), "unknown certifier 'gausian'. Did you mean 'gaussian'"),
    (("sigmas = [0.25, 0.5]", "sigmas = [0.0]"), "sigma must be a positive number"),
    (("alpha = 0.01", "alpha = 1.5"), "alpha must lie in"),
    (("n0 = 10", "n0 = 100"), "n0 must lie in"),
    (("seed = 3", "seed = 3\nsigma = 0.5"), "not a valid suite"),
    (("batch = 40", 'batch = "big"'), 'batch must be a positive integer or "auto"'),
    (("seed = 3", 'seed = 3\nprecision = "fp8"'), "unknown precision 'fp8'"),
    (("seed = 3", 'seed = 3\ncompile = "yes"'), "compile must be true or false, got 'yes'"),
])
def test_bad_suites(tmp_path, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.replace(*edit).replace("test-tiny-resnet20", "cifar10-demo-resnet20"))
    with pytest.raises((ValueError, KeyError), match=message):
        load_suite(str(path))


def test_missing_suite(capsys):
    assert main(["run", "no-such-suite"]) == 2
    assert "suite 'no-such-suite' not found" in capsys.readouterr().err


def test_shipped_suites_load():
    from bench.suite import suite_names

    assert {"quick", "cifar10-jpeg", "cifar10-paper", "imagenet-paper"} <= set(suite_names())
    for name in suite_names():
        assert load_suite(name).name == name


def test_pixeldp_scores_cannot_run_sequentially(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.replace('"pixeldp",', '"pixeldp-scores",').replace("seed = 3", "seed = 3\nsequential = true")
                    .replace("test-tiny-resnet20", "cifar10-demo-resnet20"))
    with pytest.raises(ValueError, match="pixeldp-scores needs the softmax scores of a full sampling pass"):
        load_suite(str(path))


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
    import json

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


@pytest.mark.parametrize("edit,message", [
    (('"li-renyi", ', '"li-renyi", "gaussian", '), "certifiers lists gaussian more than once"),
    (("sigmas = [0.25, 0.5]", "sigmas = [0.25, 0.5, 0.50]"), "sigmas of cifar10-demo-resnet20 lists 0.5 more than once"),
    (("seed = 3", "seed = -7"), "seed must be >= 0"),
])
def test_suites_that_would_write_a_row_twice_or_never_are_refused(tmp_path, edit, message):
    """A certifier listed twice wrote every row twice; seed = -7 failed only at the first image."""
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.replace(*edit).replace("test-tiny-resnet20", "cifar10-demo-resnet20"))
    with pytest.raises(ValueError, match=message):
        load_suite(str(path))


def test_a_model_listed_twice_is_refused(tmp_path):
    path = tmp_path / "twice.toml"
    text = SUITE.replace("test-tiny-resnet20", "cifar10-demo-resnet20")
    path.write_text(text + text[text.index("[[models]]"):])
    with pytest.raises(ValueError, match=r"\[\[models\]\] names lists cifar10-demo-resnet20 more than once"):
        load_suite(str(path))


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


def test_the_torn_row_repair_keeps_every_finished_row_when_killed(suite, tmp_path, monkeypatch):
    """The repair rewrote the file in place (open 'w', then write): a kill between the two left 0 rows."""
    import builtins

    from bench.tsv import ResumableTSV

    path = run_suite(suite, tmp_path / "runs", device="cpu")
    text = path.read_text()
    path.write_text(text + text.splitlines()[1][:20])  # a torn row
    real_open = builtins.open

    class Killed(BaseException):
        pass

    def killing_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if str(file) == str(path) and "w" in mode:
            handle.write = lambda *_: (_ for _ in ()).throw(Killed())
        return handle

    monkeypatch.setattr(builtins, "open", killing_open)
    try:
        ResumableTSV(path, RUN_COLUMNS, read_settings(path), key=key_of_fields).close()
    except Killed:
        pass
    monkeypatch.setattr(builtins, "open", real_open)
    assert path.read_text() == text
