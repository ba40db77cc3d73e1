"""Suites (bench.suite): every value validated, with the file and key in the one-line error."""
import pytest

from bench.cli import main
from bench.suite import load_suite
from tests.helpers import SUITE, one_line_error


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "name with space"])
def test_suite_names_are_names(tmp_path, name):
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.replace('name = "tiny"', f"name = {name!r}".replace("'", '"'))
                    .replace("test-tiny-resnet20", "cifar10-jpeg-resnet20-noise0.25"))
    with pytest.raises(ValueError, match="name must be a plain name"):
        load_suite(str(path))


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
    path.write_text(SUITE.replace(*edit).replace("test-tiny-resnet20", "cifar10-jpeg-resnet20-noise0.25"))
    with pytest.raises(ValueError, match=message):
        load_suite(str(path))
    assert main(["run", str(path), "--results", str(tmp_path / "r")]) == 2
    line = one_line_error(capsys)
    assert str(path) in line
    assert not (tmp_path / "r").exists()


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
    path.write_text(SUITE.replace(*edit).replace("test-tiny-resnet20", "cifar10-jpeg-resnet20-noise0.25"))
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
                    .replace("test-tiny-resnet20", "cifar10-jpeg-resnet20-noise0.25"))
    with pytest.raises(ValueError, match="pixeldp-scores needs the softmax scores of a full sampling pass"):
        load_suite(str(path))


@pytest.mark.parametrize("edit,message", [
    (('"li-renyi", ', '"li-renyi", "gaussian", '), "certifiers lists gaussian more than once"),
    (("sigmas = [0.25, 0.5]", "sigmas = [0.25, 0.5, 0.50]"), "sigmas of cifar10-jpeg-resnet20-noise0.25 lists 0.5 more than once"),
    (("seed = 3", "seed = -7"), "seed must be >= 0"),
])
def test_suites_that_would_write_a_row_twice_or_never_are_refused(tmp_path, edit, message):
    """A certifier listed twice wrote every row twice; seed = -7 failed only at the first image."""
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.replace(*edit).replace("test-tiny-resnet20", "cifar10-jpeg-resnet20-noise0.25"))
    with pytest.raises(ValueError, match=message):
        load_suite(str(path))


def test_a_model_listed_twice_is_refused(tmp_path):
    path = tmp_path / "twice.toml"
    text = SUITE.replace("test-tiny-resnet20", "cifar10-jpeg-resnet20-noise0.25")
    path.write_text(text + text[text.index("[[models]]"):])
    with pytest.raises(ValueError, match=r"\[\[models\]\] names lists cifar10-jpeg-resnet20-noise0.25 more than once"):
        load_suite(str(path))

