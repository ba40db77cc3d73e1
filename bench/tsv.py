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
    `overwrite`, and leaves no stub behind where there was no file; `on_start` runs when the file is
    (re)started, at its first row. A resumed file's rows are given to `check` (which refuses rows the
    command cannot have written) before any is counted as done."""

    def __init__(
        self, path: str | os.PathLike, columns: list[str], settings: dict[str, Any], overwrite: bool = False,
        key: Callable[[list[str]], Hashable] = lambda fields: int(fields[0]),
        check: Callable[[list[list[str]]], None] | None = None, on_start: Callable[[], None] | None = None,
    ):
        self.path = Path(path)
        self.columns = columns
        self.settings = settings
        self.key = key  # of a row from its written fields; the default: an integer first column (idx)
        self.on_start = on_start
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
                rows = self._finished_rows()
                if rows is not None:  # else not even the header was written: start the file at the first row
                    if check is not None:
                        check(rows)
                    self.done = {self.key(fields) for fields in rows}
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

    def _finished_rows(self) -> list[list[str]] | None:
        """The fields of the complete rows, or None where the file holds no complete header line. A torn
        last line (killed mid-write) is cut off by truncating the file to its last complete line: one
        system call, so a kill or a full disk during the repair loses nothing else."""
        data = self.path.read_bytes()
        complete_bytes = data.rfind(b"\n") + 1
        if complete_bytes < len(data):
            os.truncate(self.path, complete_bytes)
        try:
            lines = data[:complete_bytes].decode("utf-8").split("\n")[:-1]
        except UnicodeDecodeError as error:
            raise ValueError(f"{self.path}: not a result file (not UTF-8 text: {error}); pass --overwrite to start "
                             "again, or choose another output file") from None
        if not lines:
            return None
        if lines[0].split("\t") != self.columns:
            raise ValueError(f"{self.path}:1: header {lines[0][:200]!r} is not {chr(9).join(self.columns)!r}; pass "
                             "--overwrite to start again, or choose another output file")
        rows = list(csv.reader(lines[1:], delimiter="\t"))
        for number, fields in enumerate(rows, start=2):
            if len(fields) != len(self.columns):
                raise ValueError(f"{self.path}:{number}: expected {len(self.columns)} columns, got {len(fields)}")
            try:
                self.key(fields)
            except ValueError:
                raise ValueError(f"{self.path}:{number}: unreadable row {chr(9).join(fields)[:80]!r}; remove it, or "
                                 "pass --overwrite to start again") from None
        return rows

    def write(self, row: list[Any]) -> None:
        """Append one row (its fields as text) and flush it. A full disk or file-size limit is reported with
        the file's name; every row written before is kept."""
        fields = [str(value) for value in row]
        try:
            if self._file is not None and not self.path.exists():  # deleted: rows would go to an unlinked file
                raise FileNotFoundError(2, "No such file or directory")
            if self._file is None:  # the first row: (re)start the file and its settings now
                self.settings_path.write_text(json.dumps(self.settings, indent=2, sort_keys=True) + "\n")
                self._file = open(self.path, "w", newline="")
                self._writer = csv.writer(self._file, delimiter="\t", lineterminator="\n")
                self._writer.writerow(self.columns)
                self._file.flush()
                if self.on_start is not None:
                    self.on_start()
            self._writer.writerow(fields)
            self._file.flush()
        except FileNotFoundError:
            raise ValueError(f"{self.path} (or its folder) was removed while rows were written to it; rerun the same "
                             "command to start it again") from None
        except OSError as error:
            raise ValueError(f"{self.path}: writing a row failed ({error.strerror}); every finished row is kept: "
                             "free disk space (or raise the file-size limit) and rerun the same command to resume") from None
        self.done.add(self.key(fields))

    def close(self) -> None:
        try:
            if self._file is not None:
                self._file.close()
        except OSError:  # a full disk: write() has reported it; a torn last row is cut off on resume
            pass
        finally:
            self._lock.release()

    def __enter__(self) -> "ResumableTSV":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
