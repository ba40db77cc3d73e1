"""Result files: tab-separated (the csv module writes and reads them), one row per input, flushed per row,
and resumable.

Beside `out.tsv` a sidecar `out.tsv.settings.json` holds the settings that produced it; rerunning the
same command keeps the finished rows and continues after them, while different settings are refused.
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout


def settings_path(path: str | os.PathLike) -> Path:
    """The sidecar holding the settings a result file was written with."""
    path = Path(path)
    return path.with_name(path.name + ".settings.json")


def read_settings(path: str | os.PathLike) -> dict[str, Any]:
    """The settings a result file was written with; a missing or unreadable sidecar is named."""
    sidecar = settings_path(path)
    try:
        return json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{sidecar} not found: {path} needs the settings file written beside it") from None
    except (ValueError, OSError) as error:
        raise ValueError(f"{sidecar} is unreadable ({error}); copy it again from where {path} was written") from error


class ResumableTSV:
    """A result file opened for appending rows, held under an OS-level lock (`out.tsv.lock`) so that a
    second process writing the same file is refused instead of doubling every row.

    Nothing is written until the first row: a run that fails before its first result (bad arguments, a
    missing checkpoint, a broken model) leaves an existing file and its settings as they were, also with
    `overwrite`, and leaves no stub behind where there was no file."""

    def __init__(
        self, path: str | os.PathLike, columns: list[str], settings: dict[str, Any], overwrite: bool = False,
        key: Callable[[list[str]], Hashable] = lambda fields: int(fields[0]),
    ):
        self.path = Path(path)
        self.columns = columns
        self.settings = settings
        self.key = key  # of a row from its written fields; the default: an integer first column (idx)
        self.settings_path = settings_path(self.path)
        self.done: set[Hashable] = set()  # the key of every finished row
        if self.path.is_dir():
            raise ValueError(f"{self.path} is a folder; give the path of a file to write")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(self.path.with_name(self.path.name + ".lock"), timeout=0)
        try:
            self._lock.acquire()
        except Timeout:
            raise ValueError(
                f"{self.path} is being written by another smoothbench process (lock {self._lock.lock_file}); "
                "wait for it to finish, or write to another file"
            ) from None
        self._file = None
        try:
            if self.path.exists() and not overwrite:
                self._check_resumable(settings)
                self.done = self._finished_rows()
                self._file = open(self.path, "a", newline="")
                self._writer = csv.writer(self._file, delimiter="\t", lineterminator="\n")
        except BaseException:
            self._lock.release()
            raise

    def _check_resumable(self, settings: dict[str, Any]) -> None:
        try:
            stored = json.loads(self.settings_path.read_text()) if self.settings_path.exists() else None
        except (ValueError, OSError) as error:
            raise ValueError(f"{self.settings_path} is unreadable ({error}); pass --overwrite to start again") from error
        if stored != json.loads(json.dumps(settings)):
            changed = sorted(k for k in set(stored or {}) | set(settings) if (stored or {}).get(k) != settings.get(k))
            raise ValueError(
                f"{self.path} exists and was written with other settings ({self.settings_path}: "
                f"{', '.join(changed) or 'all'} differ); pass --overwrite to start again, or choose another output file"
            )

    def _finished_rows(self) -> set[Hashable]:
        """Keys of the complete rows; a torn last line (killed mid-write) is cut off."""
        text = self.path.read_text()
        lines = text.split("\n")
        if lines[0].split("\t") != self.columns:
            raise ValueError(f"{self.path}:1: header {lines[0]!r} is not {chr(9).join(self.columns)!r}")
        complete = lines[1:-1]  # text after the last newline is a torn row
        if lines[-1]:
            with open(self.path, "w") as f:
                f.write("\n".join([lines[0], *complete]) + "\n")
        done = set()
        for number, line in enumerate(csv.reader(complete, delimiter="\t"), start=2):
            if len(line) != len(self.columns):
                raise ValueError(f"{self.path}:{number}: expected {len(self.columns)} columns, got {len(line)}")
            done.add(self.key(line))
        return done

    def write(self, row: list[Any]) -> None:
        """Append one row (its fields as text) and flush it."""
        fields = [str(value) for value in row]
        if self._file is None:  # the first row: (re)start the file and its settings now
            self.settings_path.write_text(json.dumps(self.settings, indent=2, sort_keys=True) + "\n")
            self._file = open(self.path, "w", newline="")
            self._writer = csv.writer(self._file, delimiter="\t", lineterminator="\n")
            self._writer.writerow(self.columns)
        self._writer.writerow(fields)
        self._file.flush()
        self.done.add(self.key(fields))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._lock.release()

    def __enter__(self) -> "ResumableTSV":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
