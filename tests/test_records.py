"""The run file round trip: what the runner writes is what every reader gets back."""
import math

import pandas as pd
import pytest

from bench.records import RUN_COLUMNS, encode_row, key_of_fields, read_run, row_key
from bench.tsv import ResumableTSV

AWKWARD = [0.1 + 0.2, 1e-7, 1 / 3, 0.12, 5e-324, 123456.789]


def row(**values):
    base = dict(suite="s", dataset="cifar10-embedded", model="m", train_sigma=0.25, certifier="gaussian", sigma=0.5,
                idx=7, label=3, predict=3, radius=0.5, correct=1, n0=100, n=10_000, alpha=0.001, seconds=1.23456,
                device="cpu (x86_64, 2 threads)", precision="fp32", channels_last=0, compile=0, batch=400, seed=0,
                code_version="abc1234")
    return {**base, **values}


def test_round_trip_with_nan_and_awkward_floats(tmp_path):
    rows = [row(idx=i, sigma=s, alpha=s, train_sigma=s, radius=abs(s)) for i, s in enumerate(AWKWARD)]
    rows.append(row(idx=99, certifier="lipschitz-margin", sigma=None, n0=None, n=None, alpha=float("nan"), batch=None))
    path = tmp_path / "run.tsv"
    with ResumableTSV(path, RUN_COLUMNS, {}, key=key_of_fields) as out:
        for values in rows:
            out.write(encode_row(values))
    frame = read_run(path)
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
    with pytest.raises(ValueError, match="column sigma holds a value that is not a number"):
        read_run(path)
