"""Resumable result files (bench.tsv): one writer at a time, torn rows cut off without a rewrite, full disks named."""
import pytest
from filelock import FileLock

from bench.records import RUN_COLUMNS, key_of_fields
from bench.runner import run_suite
from bench.tsv import read_settings
from tests.helpers import certify_three, one_line_error


def test_a_second_writer_is_refused(checkpoint, tmp_path, capsys):
    """Two processes on one output file used to write every row twice and both exit 0."""
    out = tmp_path / "certify.tsv"
    with FileLock(str(out) + ".lock"):  # another process holds the file
        assert certify_three(checkpoint, out) == 2
        assert "is being written by another smoothbench process" in one_line_error(capsys)
    assert not out.exists()
    assert certify_three(checkpoint, out) == 0 and len(out.read_text().splitlines()) == 1 + 3


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

