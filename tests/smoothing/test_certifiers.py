"""The certifier and guarantee registries: found without a list, a new one is one file."""
import pytest

from smoothing.certifiers import CERTIFIERS, certifier_names, create_certifier, is_smoothing
from smoothing.guarantees import certified_radius, guarantee_names


def test_certifiers_and_guarantees():
    """Every guarantee is a sampling certifier of its name; every registered certifier carries its name."""
    assert {"gaussian", "li-renyi", "pixeldp"} <= set(guarantee_names())
    for name in certifier_names():
        certifier = create_certifier(name)
        assert certifier.name == name
        assert is_smoothing(certifier) == (certifier.kind == "sampling")
    for name in guarantee_names():
        assert certified_radius(name, 1.0, 0.9) > 0 and is_smoothing(create_certifier(name))


def test_every_baseline_module_registers_something():
    """The registries read every module of baselines/: each holds a guarantee or a certifier."""
    import pkgutil

    import baselines
    from smoothing.guarantees import GUARANTEES

    modules = {f"baselines.{m.name}" for m in pkgutil.iter_modules(baselines.__path__)}
    registered = {GUARANTEES.get(name).__module__ for name in GUARANTEES.names()}
    registered |= {CERTIFIERS.get(name).__module__ for name in CERTIFIERS.names()}
    assert modules <= registered


def load_module(path, text):
    """A module from one new file (its registrations run on import, as baselines/ modules' do)."""
    import importlib.util

    path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HALF_GAUSSIAN = """
from smoothing.guarantees import register_guarantee
from smoothing.statistics import gaussian_radius


@register_guarantee("half-gaussian-NAME")
def half_gaussian(sigma, p_a, p_b):
    return gaussian_radius(sigma, p_a, p_b) / 2
"""


CONSTANT = """
from smoothing.certifiers import DETERMINISTIC, register_certifier


@register_certifier("constant-NAME")
class Constant:
    kind = DETERMINISTIC

    def prepare(self, model, input_shape):
        self.model = model

    def __call__(self, x):
        return int(self.model(x[None]).argmax()), 0.125
"""


@pytest.fixture
def temporary_entries(tmp_path):
    """Names for entries a test registers, removed from the registries afterwards."""
    from smoothing.guarantees import GUARANTEES

    name = tmp_path.name.replace("_", "-")
    yield name
    GUARANTEES.remove(f"half-gaussian-{name}")
    CERTIFIERS.remove(f"constant-{name}")


def test_a_guarantee_and_a_certifier_are_one_file_each(suite, tmp_path, temporary_entries):
    """A new smoothing guarantee (one function) and a new deterministic certifier (one class), each in one
    file and nothing else edited, run in a suite beside the shipped ones."""
    from bench.records import read_run
    from bench.runner import run_suite

    name = temporary_entries
    load_module(tmp_path / "half.py", HALF_GAUSSIAN.replace("NAME", name))
    load_module(tmp_path / "constant.py", CONSTANT.replace("NAME", name))
    assert f"half-gaussian-{name}" in certifier_names() and f"constant-{name}" in certifier_names()
    run = suite.with_overrides(dict(certifiers=["gaussian", f"half-gaussian-{name}", f"constant-{name}"]))
    frame = read_run(run_suite(run, tmp_path / "runs", device="cpu"))
    radii = frame.pivot_table(index=["sigma", "idx"], columns="certifier", values="radius")
    assert (radii[f"half-gaussian-{name}"] <= radii["gaussian"] / 2 + 1e-6).all()
    assert set(frame[frame["certifier"] == f"constant-{name}"]["radius"]) == {0.125}

