"""Throughput and CERTIFY timing (bench.tools.throughput): summaries, partial CSVs kept, peak memory."""

import pandas as pd
import pytest

from bench.cli import main
from bench.tools.throughput import certification_summary, memory_summary, summary_frame


def test_certification_summary_means_and_speed_ups():
    rows = [dict(device="gpu", arch="net", fast_path=path, n0=10, n=100, batch=50, method=method, image=image,
                 seconds=seconds)
            for path, scale in [("fp32", 1.0), ("bf16+compile", 0.25)]
            for image, extra in [(0, 0.0), (1, 0.2)]
            for method, seconds in [("ours", scale * 2 + extra), ("reference (locuslab core.py)", 4.0 + extra)]]
    summary = certification_summary(pd.DataFrame(rows)).set_index("fast_path")
    assert list(summary.index) == ["fp32", "bf16+compile"]  # the order they were measured in
    assert summary.loc["fp32", "ours s"] == pytest.approx(2.1)
    assert summary.loc["bf16+compile", "ours s"] == pytest.approx(0.6)
    assert summary.loc["bf16+compile", "reference (locuslab core.py) / ours"] == pytest.approx(4.1 / 0.6)


def test_memory_summary_has_one_column_per_n_in_order():
    memory = pd.DataFrame(dict(device="gpu", measure="cuda max_memory_allocated", arch="net", batch=4,
                               n=[1000, 100, 10_000], peak_bytes=[2 * 2**20, 2**20, 2 * 2**20]))
    summary = memory_summary(memory)
    assert list(summary.columns[-3:]) == ["n=100 MiB", "n=1,000 MiB", "n=10,000 MiB"]
    assert summary.iloc[0]["n=100 MiB"] == 1 and summary.iloc[0]["n=10,000 MiB"] == 2


def test_throughput_keeps_the_parts_measured_before_a_failure(tmp_path, monkeypatch, capsys):
    """A step stopped midway (time limit, error) keeps every fast path it finished in its CSV."""
    import bench.tools.throughput
    from bench.tools.throughput import samples_per_second

    def fails_on_bf16(arch, dataset, fast_path, *args):
        if fast_path.precision == "bf16":
            raise RuntimeError("out of time")
        return samples_per_second(arch, dataset, fast_path, *args)

    monkeypatch.setattr(bench.tools.throughput, "samples_per_second", fails_on_bf16)
    out = tmp_path / "throughput.csv"
    assert main(["throughput", "--arch", "cifar_resnet20", "--batch", "10", "--n", "20", "--device", "cpu",
                 "--precision", "fp32", "bf16", "--out", str(out)]) == 2
    assert "out of time" in capsys.readouterr().err
    assert set(pd.read_csv(out).precision) == {"fp32"}


def test_throughput_command(tmp_path):
    import pandas as pd

    out = tmp_path / "throughput.csv"
    assert main(["throughput", "--arch", "cifar_resnet20", "--batch", "10", "--n", "20", "--device", "cpu",
                 "--precision", "fp32", "bf16", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.method) == ["plain-forward", "ours", "reference-style"] * 2
    assert (frame.samples == 20).all() and (frame.samples_per_s > 0).all()
    assert (frame[frame.method == "plain-forward"].ratio_to_ceiling == 1).all()
    summary = summary_frame(frame)
    assert list(summary.fast_path) == ["bf16", "fp32"]
    ours = frame[frame.method == "ours"].set_index("precision").samples_per_s
    assert summary.set_index("fast_path").ours_seconds_per_image_n100k["bf16"] == pytest.approx(100_100 / ours["bf16"])


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="reads /proc/self peak memory")
def test_peak_memory_command(tmp_path):
    import pandas as pd

    out = tmp_path / "memory.csv"
    assert main(["throughput", "--arch", "cifar_resnet20", "--batch", "50", "--memory", "100", "2000",
                 "--device", "cpu", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.n) == [100, 2000] and (frame.peak_bytes >= 0).all()
    assert set(frame.measure) == {"growth of VmHWM"}

