"""Run files (bench.records): what the runner writes is what every reader gets back; impossible rows are refused."""
import math

import pandas as pd
import pytest

from bench.cli import main
from bench.records import RUN_COLUMNS, encode_row, format_radius, key_of_fields, read_run, row_key
from bench.runner import run_suite
from bench.tsv import ResumableTSV


def test_format_radius_never_rounds_up():
    assert format_radius(0.37869) == "0.378"
    assert format_radius(2.32635) == "2.32"
    assert format_radius(1.0) == "1.0"
    assert format_radius(0.0) == "0.0"
    assert format_radius(0.123456789, 6) == "0.123456"
    for radius in [0.0123456, 0.99999, 3.14159, 0.5, 3.48473e-12]:
        assert float(format_radius(radius)) <= radius and float(format_radius(radius, 6)) <= radius


def test_repeated_and_torn_rows_are_counted_once(suite, tmp_path, capsys):
    """A run file with every row written twice (two writers) and a torn last row used to count 20 images
    as 40 and read the torn row silently."""
    from bench.records import read_run

    path = run_suite(suite, tmp_path / "runs", device="cpu")
    clean = read_run(path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines + lines[1:] + [lines[1][:25]]))
    with pytest.warns(UserWarning) as caught:
        doubled = read_run(path)
    messages = [str(w.message) for w in caught]
    assert any(f"{path}:{2 * len(lines)}: torn last row" in m for m in messages)
    assert any(f"{path}: lines {len(lines) + 1}, " in m and f"{len(lines) - 1} rows repeat" in m for m in messages)
    pd.testing.assert_frame_equal(doubled, clean)
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    assert "warning:" in capsys.readouterr().err
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert (board.images == 5).all()


AWKWARD = [0.1 + 0.2, 1e-7, 1 / 3, 0.12, 5e-324, 123456.789]


def row(**values):
    base = dict(suite="s", dataset="cifar10-embedded", model="m", train_sigma=0.25, certifier="gaussian", sigma=0.5,
                idx=7, label=3, predict=3, radius=0.5, correct=1, n0=100, n=10_000, alpha=0.001, seconds=1.23456,
                device="cpu (x86_64, 2 threads)", precision="fp32", channels_last=0, compile=0, batch=400, seed=0,
                code_version="abc1234")
    return {**base, **values}


def test_round_trip_with_nan_and_awkward_floats(tmp_path):
    rows = [row(idx=i, sigma=s, alpha=s if s < 1 else 0.001, train_sigma=s, radius=0.0) for i, s in enumerate(AWKWARD)]
    rows += [row(idx=10 + i, radius=r) for i, r in enumerate(AWKWARD[:4])]
    rows.append(row(idx=99, certifier="lipschitz-margin", sigma=None, n0=None, n=None, alpha=float("nan"), batch=None))
    path = tmp_path / "run.tsv"
    with ResumableTSV(path, RUN_COLUMNS, {}, key=key_of_fields) as out:
        for values in rows:
            out.write(encode_row(values))
    frame = read_run(path)
    assert len(frame) == len(rows)
    for values, (_, read) in zip(rows, frame.iterrows()):
        for column in ("sigma", "alpha", "train_sigma"):
            expected = values[column]
            if expected is None or (isinstance(expected, float) and math.isnan(expected)):
                assert math.isnan(read[column])
            else:
                assert read[column] == expected  # exactly: floats are written by their round-trip repr
        assert read["radius"] <= (values["radius"] or 0.0)  # rounded down, never up
        assert read["radius"] == pytest.approx(values["radius"], rel=1e-5, abs=1e-300)
    deterministic = frame.iloc[-1]
    assert all(pd.isna(deterministic[c]) for c in ("sigma", "n0", "n", "alpha", "batch"))
    assert frame["idx"].dtype.kind == "i" and frame["label"].dtype.kind == "i"


def test_keys_do_not_depend_on_how_sigma_is_spelled(tmp_path):
    path = tmp_path / "run.tsv"
    with ResumableTSV(path, RUN_COLUMNS, {}, key=key_of_fields) as out:
        out.write(encode_row(row(sigma=0.5)))
    fields = path.read_text().splitlines()[1].split("\t")
    fields[RUN_COLUMNS.index("sigma")] = "0.50"
    assert key_of_fields(fields) == row_key("m", "gaussian", 0.5, 7) == row_key("m", "gaussian", "0.5", "7")
    with ResumableTSV(path, RUN_COLUMNS, {}, key=key_of_fields) as out:
        assert row_key("m", "gaussian", 0.5, 7) in out.done
        assert row_key("m", "gaussian", None, 7) not in out.done


def test_foreign_values_are_named(tmp_path):
    path = tmp_path / "run.tsv"
    with ResumableTSV(path, RUN_COLUMNS, {}, key=key_of_fields) as out:
        out.write(encode_row(row()))
    path.write_text(path.read_text().replace("\t0.5\t7\t", "\tnot-a-number\t7\t"))
    with pytest.raises(ValueError, match="run.tsv:2: column sigma holds .not-a-number., which is not a number"):
        read_run(path)


def written(tmp_path, rows: list[dict], name: str = "run.tsv"):
    """A run file of `rows`; a radius given as text is written as it is (a corrupt or hand-made file)."""
    path = tmp_path / name
    with ResumableTSV(path, RUN_COLUMNS, {}, key=key_of_fields) as out:
        for values in rows:
            text = values["radius"] if isinstance(values["radius"], str) else None
            fields = encode_row({**values, "radius": 0.0} if text else values)
            if text:
                fields[RUN_COLUMNS.index("radius")] = text
            out.write(fields)
    return path


@pytest.mark.parametrize("values,message", [
    (dict(radius="inf"), "radius inf is not a number >= 0"),
    (dict(radius="-1"), "radius -1.0 is not a number >= 0"),
    (dict(radius=50.0), "radius 50 exceeds 1.59929, the largest that n = 10000 samples certify at alpha = 0.001 "
                        "and sigma = 0.5"),
    (dict(predict=-1, correct=0, radius=0.25), r"an abstention \(predict = -1\) with radius 0.25"),
    (dict(predict=-1, correct=1, radius=0.0), r"an abstention \(predict = -1\) marked correct"),
    (dict(predict=4, correct=1), "correct = 1 but predict = 4 and label = 3"),
])
def test_impossible_rows_are_refused_with_file_and_line(tmp_path, values, message):
    """The leaderboard used to count radius inf, 50 or -1 and abstentions with a radius."""
    path = written(tmp_path, [row(idx=1), row(idx=2, **values)])
    with pytest.raises(ValueError, match=f"run.tsv:3: impossible row: {message}"):
        read_run(path)


def test_deterministic_rows_have_no_sample_cap(tmp_path):
    path = written(tmp_path, [row(certifier="lipschitz-margin", sigma=None, n0=None, n=None, alpha=None, batch=None,
                                  radius=7.5)])
    assert read_run(path)["radius"].tolist() == [7.5]


def test_integer_columns_hold_integers(tmp_path):
    path = written(tmp_path, [row()])
    path.write_text(path.read_text().replace("\t7\t3\t3\t", "\t7.5\t3\t3\t"))
    with pytest.raises(ValueError, match=r"run.tsv:2: column idx holds '7.5', which is not an integer"):
        read_run(path)


def test_rows_of_another_suite_dataset_or_n_are_refused(suite, tmp_path):
    """A run file is checked against the suite in the settings beside it."""
    from bench.runner import run_suite

    path = run_suite(suite, tmp_path / "runs", device="cpu")
    lines = path.read_text().splitlines(keepends=True)
    first = lines[1].split("\t")
    for column, value, message in [("suite", "other", "suite other on cifar10-embedded, not suite tiny"),
                                   ("dataset", "cifar10", "suite tiny on cifar10, not suite tiny on cifar10-embedded"),
                                   ("n", "61", "n0 = 10, n = 61, alpha = 0.01, but suite tiny certifies with n0 = 10, "
                                               "n = 60"),
                                   ("model", "another-model", "model another-model with certifier gaussian")]:
        changed = list(first)
        changed[RUN_COLUMNS.index(column)] = value
        path.write_text("".join(lines) + "\t".join(changed))
        with pytest.raises(ValueError, match=f"{path.name}:{len(lines) + 1}: impossible row: {message}"):
            read_run(path)


def test_rank_files_of_two_process_counts_count_each_image_once(suite, tmp_path):
    """Rank files of K = 2 and K = 3 of one run id (a run resumed with another K) counted 9 images as 18."""
    from bench.records import read_runs
    from bench.runner import run_suite
    from smoothing.devices import Shard

    runs = tmp_path / "runs"
    single = read_run(run_suite(suite, runs, device="cpu"))
    folder = runs / suite.name
    for rank in range(2):
        run_suite(suite, runs, run_id="sharded", device="cpu", shard=Shard(rank, 2))
    for suffix in (".tsv", ".tsv.settings.json"):  # the same rows again as the files of a 3-process attempt
        (folder / f"sharded.rank0-of-3{suffix}").write_text((folder / f"cpu-fp32{suffix}").read_text())
    with pytest.warns(UserWarning) as caught:
        frame = read_runs(runs)
    messages = " | ".join(str(warning.message) for warning in caught)
    assert "files of 2 process counts" in messages and "rows repeat an earlier row's" in messages
    assert len(frame[frame["run"] == f"{suite.name}/sharded"]) == len(single)
    assert len(frame[frame["run"] == f"{suite.name}/cpu-fp32"]) == len(single)

