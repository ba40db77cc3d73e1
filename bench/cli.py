"""`smoothbench`: certify, benchmark and report certified l2 robustness from the command line.

Each command lives beside what it runs and adds itself here (`add_commands` of each module in COMMANDS);
this module only builds the parser and dispatches. `certify` and `predict` take the reference's arguments
(dataset, base classifier checkpoint, sigma, output file, --batch --skip --max --N0 --N --alpha) and write its
TSV columns, one flushed row per input.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from bench.commands import OneLineParser

COMMANDS = (  # the modules that add commands, in the order --help lists them
    "bench.runner",  # run, certify, predict, import-certify
    "bench.published",  # import-published
    "bench.report.leaderboard", "bench.report.plots", "bench.report.tables", "bench.report.bounds",
    "bench.tools.training",  # train, evaluate
    "bench.tools.throughput", "bench.tools.sequential_savings", "bench.tools.sample_efficiency",
    "bench.tools.sequential_runs",
    "bench.tools.audit",  # audit, lipschitz
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="smoothbench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in COMMANDS:
        importlib.import_module(module).add_commands(commands)
    for subparser in commands.choices.values():
        subparser.add_argument("--debug", action="store_true", help="on an error, show its traceback")
    return parser


def describe(error: BaseException) -> str:
    """One line for the user: the message, with the file an OS error names; the type where it is not a
    usage error (a bug, or a library's complaint)."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}; check the path and its permissions"
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    message = " ".join(message.split()) or "(no message)"
    if not isinstance(error, (ValueError, KeyError, OSError)):
        message = f"{type(error).__name__}: {message} (rerun with --debug for the traceback)"
    return message


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # a usage error (one line, status 2), or --help (status 0)
        return stop.code if isinstance(stop.code, int) else 2

    def show_warning(message, *_) -> None:
        print(f"smoothbench {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            args.handler(args)
    except KeyboardInterrupt:
        print(f"smoothbench {args.command}: interrupted; every finished row is kept, rerun the same command to resume",
              file=sys.stderr)
        return 130
    except Exception as error:  # every failure is one line and exit status 2; --debug shows the traceback
        if args.debug:
            raise
        print(f"smoothbench {args.command}: error: {describe(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
