"""A benchmark suite: the one declaration of what a run certifies (dataset, images, models with their sigmas,
certifiers) and how (n0, n, alpha, batch, fast path, sequential, seed), as a TOML file (bench/suites/) declares
it. Constructing a `Suite` validates every value; the error names the key.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from bench.commands import batch_size, non_negative_int, positive_int, scheme_or_false
from bench.models import ModelSpec, create_model_spec
from smoothing.certifiers import SAMPLING, create_certifier
from smoothing.core import check_sample_sizes
from smoothing.datasets import dataset_info, selected_positions
from smoothing.sampler import FastPath
from smoothing.sequential import RECOMMENDED, create_scheme, scheme_names
from smoothing.statistics import check_alpha, check_sigma

OVERRIDABLE = ("dataset", "split", "skip", "max", "certifiers", "n0", "n", "alpha", "batch", "precision",
               "channels_last", "compile", "sequential", "seed")  # the Suite keys `smoothbench run` may replace
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
REQUIRED = ("name", "dataset", "certifiers", "models")  # the keys every suite file names


def default_of(name: str) -> Any:
    """A setting's default, as the Suite declares it (for code outside a suite that needs the same value)."""
    return {declared.name: declared.default for declared in dataclasses.fields(Suite)}[name]


def setting_fields(names: list[str]) -> list[dataclasses.Field]:
    """The declared settings of `names`, in that order (for their command-line flags)."""
    fields = {declared.name: declared for declared in dataclasses.fields(Suite) if "help" in declared.metadata}
    return [fields[name] for name in names]


def check_name(kind: str, name: object) -> str:
    """A suite name or run id becomes a file name: letters, digits, '.', '_', '-' only, no path."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise ValueError(f"{kind} must be a plain name (letters, digits, '.', '_', '-', no '..' or '/'), got {name!r}")
    return name


def _check_unique(key: str, values: list) -> None:
    """Each (model, certifier, sigma, image) is one row: a name or sigma listed twice would write it twice."""
    repeated = sorted({str(value) for value in values if values.count(value) > 1})
    if repeated:
        raise ValueError(f"{key} lists {', '.join(repeated)} more than once; list each once")


def _check_type(key: str, value: object, kind: type | tuple[type, ...], what: str) -> None:
    """bool is not an int here, and an int is a valid float."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) != (bool in kinds) or not isinstance(value, kinds):
        raise ValueError(f"{key} must be {what}, got {value!r}")


def setting(default: Any, help: str, parse: Callable[[str], Any], **flag: Any) -> Any:
    """A suite setting: its default and, for the command-line flags built from it (bench.commands), its
    help, how a flag's text is parsed, and flag options (aliases, many)."""
    return field(default=default, metadata=dict(help=help, parse=parse, **flag))


@dataclass(frozen=True)
class Suite:
    """A benchmark suite as its TOML file declares it; construction validates every value. The one
    declaration of every sampling and image-selection setting: each command's flags are built from it."""

    name: str
    dataset: str = setting(None, "dataset name (smoothing.datasets)", str)
    certifiers: list[str] = setting(None, "certifier names (smoothing.certifiers)", str, many=True)
    models: list[dict] = field(default=None)  # {"name": ..., "sigmas": [...]} (or an inline checkpoint, see model_spec)
    split: str = setting("test", "the dataset's split: train or test", str)
    skip: int = setting(1, "take every skip-th image", positive_int)
    max: int = setting(-1, "stop before this position (-1: all)", int)
    n0: int = setting(100, "selection samples (Cohen et al. Algorithm 2)", positive_int, aliases=("--N0",))
    n: int = setting(100_000, "estimation samples (the most, for a sequential scheme)", positive_int, aliases=("--N",))
    alpha: float = setting(0.001, "failure probability of each certificate", float)
    batch: int | str = setting(1000, 'noisy samples per forward pass, or "auto": picked once per model and cached',
                               batch_size)
    precision: str = setting("fp32", "fp32, or bf16/fp16 (certify the reduced-precision base classifier)", str)
    channels_last: bool = setting(False, "channels_last memory format", bool)
    compile: bool = setting(False, "torch.compile the base classifier (CUDA graphs on a GPU)", bool)
    sequential: bool | str = setting(False, f"a sequential scheme (smoothing.sequential; true: {RECOMMENDED}): stop an image "
                                     "once its table cell is settled", scheme_or_false)
    seed: int = setting(0, "seed of each image's noise, with its index", non_negative_int)
    text: str = field(default="", repr=False)  # the TOML file as written
    overrides: dict = field(default_factory=dict, repr=False)  # keys replaced on the command line (with_overrides)

    def __post_init__(self) -> None:
        check_name("name", self.name)
        for key in REQUIRED:
            if getattr(self, key) is None:
                raise ValueError(f"missing key {key}")
        _check_type("dataset", self.dataset, str, "a dataset name")
        dataset_info(self.dataset)  # unknown names fail here, with the known ones
        if self.split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {self.split!r}")
        for key in ("skip", "n0", "n", "seed"):
            _check_type(key, getattr(self, key), int, "an integer")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0 (each image's noise is seeded from seed and index), got {self.seed}")
        _check_type("max", self.max, int, "an integer (-1: all images)")
        selected_positions(0, self.skip, self.max)
        _check_type("alpha", self.alpha, (int, float), "a number")
        check_alpha(self.alpha)
        if self.batch != "auto":
            _check_type("batch", self.batch, int, 'a positive integer or "auto"')
        check_sample_sizes(self.n, 1 if self.batch == "auto" else self.batch, self.n0)
        for key in ("channels_last", "compile"):
            _check_type(key, getattr(self, key), bool, "true or false")
        if not isinstance(self.sequential, (bool, str)):
            raise ValueError(f"sequential must be false or a scheme name ({', '.join(scheme_names())}), "
                             f"got {self.sequential!r}")
        self.scheme()  # unknown scheme names fail here
        self.fast_path()  # checks the precision
        self._check_certifiers("certifiers", self.certifiers)
        _check_type("models", self.models, list, "a list of [[models]] tables")
        if not self.models:
            raise ValueError("no [[models]] table: name at least one model (name, sigmas, optionally certifiers)")
        _check_unique("[[models]] names", [model.get("name") if isinstance(model, dict) else model for model in self.models])
        for model in self.models:
            _check_type("[[models]]", model, dict, "a table with name and sigmas")
            if "name" not in model:
                raise ValueError(f"each [[models]] table needs a name, got keys {sorted(model)}")
            _check_type("[[models]] name", model["name"], str, "a model name")
            certifiers = self.certifiers_of(model)
            if "certifiers" in model:
                self._check_certifiers(f"certifiers of {model['name']}", certifiers)
            sigmas = model.get("sigmas", [])
            _check_type(f"sigmas of {model['name']}", sigmas, list, "a list of noise levels")
            if not sigmas and any(create_certifier(c).kind == SAMPLING for c in certifiers):
                raise ValueError(f"sigmas of {model['name']} is empty or missing: its smoothing certifiers need at "
                                 "least one noise level, e.g. sigmas = [0.25]")
            for sigma in sigmas:
                _check_type(f"sigmas of {model['name']}", sigma, (int, float), "a list of numbers")
                check_sigma(sigma)
            _check_unique(f"sigmas of {model['name']}", [float(sigma) for sigma in sigmas])

    def _check_certifiers(self, key: str, names: object) -> None:
        _check_type(key, names, list, "a list of certifier names")
        if not names:
            raise ValueError(f"{key} is empty: name at least one (e.g. \"gaussian\")")
        for name in names:
            _check_type(key, name, str, "a list of certifier names")
        _check_unique(key, names)
        for name in names:
            certifier = create_certifier(name)  # unknown names fail here, before any work
            if self.sequential and certifier.kind == SAMPLING and certifier.needs_scores:
                raise ValueError(f"certifier {name} needs the softmax scores of a full sampling pass; it cannot "
                                 "run sequentially (sequential = false)")

    def model_specs(self) -> list[ModelSpec]:
        """Each model's spec (registered, or inline with its checkpoint): unknown names fail here."""
        return [model_spec(model) for model in self.models]

    def certifiers_of(self, model: dict) -> list[str]:
        """A model's certifiers: its own `certifiers` key, else the suite's."""
        return model.get("certifiers", self.certifiers)

    def scheme(self) -> str | None:
        """The sequential scheme this suite certifies with (scheme_name), None for fixed n."""
        return scheme_name(self.sequential)

    def fast_path(self) -> FastPath:
        return FastPath(self.precision, self.channels_last, self.compile)

    def with_overrides(self, overrides: dict) -> "Suite":
        """The suite with some keys replaced (e.g. from `smoothbench run SUITE --n 1000`), validated again;
        the overrides are recorded in the run's settings and manifest and name its default run id."""
        unknown = sorted(set(overrides) - set(OVERRIDABLE))
        if unknown:
            raise ValueError(f"cannot override {', '.join(unknown)}; overridable keys: {', '.join(OVERRIDABLE)}")
        return dataclasses.replace(self, **overrides, overrides={**self.overrides, **overrides})

    def default_run_id(self, device: torch.device) -> str:
        """<device type>-<precision>, then -<key><value> for every other override: different settings never
        share a run file."""
        parts = [device.type, self.precision] + [
            f"{key}{'-'.join(map(str, value)) if isinstance(value, list) else value}"
            for key, value in sorted(self.overrides.items()) if key != "precision"]
        return re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts))


def suite_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return path
    return Path(str(resources.files("bench") / "suites" / f"{name_or_path}.toml"))


def suite_names() -> list[str]:
    return sorted(p.stem for p in Path(str(resources.files("bench") / "suites")).glob("*.toml"))


def load_suite(name_or_path: str) -> Suite:
    """The suite of a shipped name or a TOML file, its models resolved; every problem is reported with the
    file's path."""
    path = suite_path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"suite {name_or_path!r} not found: no file {path}; shipped suites: {', '.join(suite_names())}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a valid suite TOML file ({error})") from error
    suite = suite_from_text(text, str(path))
    try:
        suite.model_specs()
    except (ValueError, KeyError) as error:
        raise ValueError(f"{path}: {error.args[0] if error.args else error}") from error
    return suite


def _named(names: list[str], most: int = 5) -> str:
    """The first few of a list of names, and how many more: an error line stays one readable line."""
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def suite_from_text(text: str, source: str, overrides: Mapping[str, Any] | None = None) -> Suite:
    """The suite a TOML text declares (with command-line overrides, as a run's settings record them),
    every value validated; `source` (its file) prefixes every error. Models are not resolved here, so a
    run of a model registered elsewhere can still be read."""
    try:
        fields = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{source}: not a valid suite TOML file ({error})") from error
    except RecursionError:
        raise ValueError(f"{source}: not a valid suite TOML file (nested too deeply)") from None
    known = {f.name for f in dataclasses.fields(Suite)} - {"text", "overrides"}
    unknown = sorted(set(fields) - known)
    missing = sorted(key for key in REQUIRED if key not in fields)
    if unknown or missing:
        raise ValueError(f"{source}: not a valid suite: " + "; ".join(
            ([f"unknown keys {_named(unknown)} (known: {', '.join(sorted(known))})"] if unknown else [])
            + ([f"missing keys {', '.join(missing)}"] if missing else [])))
    try:
        suite = Suite(**fields, text=text)
        return suite.with_overrides(dict(overrides)) if overrides else suite
    except (ValueError, KeyError, TypeError) as error:
        message = error.args[0] if error.args else str(error)
        raise ValueError(f"{source}: {message}") from error


def model_spec(entry: dict) -> ModelSpec:
    """A suite's model: a registered name, or {name, checkpoint, dataset, arch?, train_sigma?} inline."""
    if "checkpoint" not in entry:
        unknown = sorted(set(entry) - {"name", "sigmas", "certifiers"})
        if unknown:
            raise ValueError(f"model {entry['name']!r}: unknown keys {', '.join(unknown)}; a registered model takes "
                             "name, sigmas and certifiers")
        return create_model_spec(entry["name"])
    fields = {k: v for k, v in entry.items() if k not in ("sigmas", "certifiers")}
    try:
        return ModelSpec(**dict(fields, checkpoint=Path(fields["checkpoint"])))
    except TypeError as error:
        raise ValueError(f"model {entry.get('name')!r}: {error}; an inline model takes name, checkpoint, dataset, "
                         "arch, train_sigma, method") from error


CERTIFY_SETTINGS = ("command", "base_classifier", "dataset", "sigma", "split", "skip", "max", "N", "alpha", "batch",
                    "precision", "channels_last", "compile", "seed")  # what certify and predict record of their flags


def scheme_name(sequential: bool | str) -> str | None:
    """The sequential scheme a `sequential` setting names: None for fixed-n CERTIFY (false), the recommended
    scheme for true, else the name itself; unknown names fail here, with the known ones."""
    if sequential is False:
        return None
    name = RECOMMENDED if sequential is True else sequential
    create_scheme(name)
    return name


def certify_suite(settings: Mapping[str, Any]) -> Suite:
    """The settings of `smoothbench certify` or `predict` (their flags, as parsed or as saved beside their log)
    as the one-model suite they are (the reference's flag names map to its keys: N0 to n0, N to n), so the
    Suite's validation is the only one; predict selects nothing (n0 = 1 stands for "no selection pass")."""
    missing = [key for key in CERTIFY_SETTINGS if key not in settings]
    if missing:
        raise ValueError(f"settings without {', '.join(missing)}: not the settings of a smoothbench certify or predict "
                         "log; copy the .settings.json written beside the log")
    model = {"name": Path(settings["base_classifier"]).name, "checkpoint": settings["base_classifier"],
             "dataset": settings["dataset"], "sigmas": [settings["sigma"]],
             **({"arch": settings["arch"]} if settings.get("arch") else {})}
    return Suite(name=settings["command"], dataset=settings["dataset"], certifiers=["gaussian"], models=[model],
                 split=settings["split"], skip=settings["skip"], max=settings["max"], n0=settings.get("N0", 1),
                 n=settings["N"], alpha=settings["alpha"], batch=settings["batch"], precision=settings["precision"],
                 channels_last=settings["channels_last"], compile=settings["compile"],
                 seed=0 if settings["seed"] is None else settings["seed"], sequential=settings.get("sequential", False))
