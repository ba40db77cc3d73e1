"""What every `smoothbench` command shares: the one-line usage error, argument types, the flags of the
suite settings (from the one declaration, bench.suite.Suite), and CSV output."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line (the command, the flag and what it takes) with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _number(kind: type, low: float, inclusive: bool, what: str):
    """An argparse type: a finite number of `kind` above `low` (or at it, when `inclusive`)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


positive_int = _number(int, 0, False, "a positive integer")
non_negative_int = _number(int, 0, True, "an integer >= 0")
positive_float = _number(float, 0.0, False, "a positive number")
non_negative_float = _number(float, 0.0, True, "a number >= 0")


def batch_size(text: str) -> int | str:
    """--batch: a positive integer or "auto"."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'batch size must be a positive integer or "auto", got {text!r}')
    return int(text)


def scheme_or_false(text: str) -> bool | str:
    """--sequential: false, true (the recommended scheme, smoothing.sequential.RECOMMENDED) or a scheme's name."""
    return {"true": True, "false": False}.get(text.lower(), text)


def add_setting_flags(parser: argparse.ArgumentParser, names: list[str], *, overrides: bool = False,
                      defaults: dict[str, Any] | None = None) -> None:
    """A flag per suite setting in `names`, with the help, type and default of its declaration in
    bench.suite.Suite (`defaults` replaces some for a command). With `overrides` every flag defaults to None
    and stores into override_<name>: only what is given replaces the suite's value."""
    from bench.suite import setting_fields

    for declared in setting_fields(names):
        meta = declared.metadata
        flags = [f"--{declared.name.replace('_', '-')}", *meta.get("aliases", ())]
        default = None if overrides else (defaults or {}).get(declared.name, declared.default)
        options: dict[str, Any] = dict(dest=f"override_{declared.name}" if overrides else declared.name,
                                       default=default, help=meta["help"])
        if meta["parse"] is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options.update(type=meta["parse"], metavar=declared.name.upper())
            if meta.get("many"):
                options["nargs"] = "+"
        parser.add_argument(*flags, **options)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """A command's result frame as CSV at `path`, its folder created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def add_image_flags(parser: argparse.ArgumentParser) -> None:
    """The checkpoint's architecture and the images a command reads (dataset, split, folder, skip, max)."""
    from smoothing.architectures import architecture_names
    from smoothing.datasets import dataset_names

    parser.add_argument("--arch", choices=architecture_names(), help="if the checkpoint does not name one")
    parser.add_argument("--dataset", default="cifar10-embedded", choices=dataset_names())
    parser.add_argument("--data-root", help="data folder (default: the dataset's environment variable)")
    add_setting_flags(parser, ["split", "skip", "max"])
