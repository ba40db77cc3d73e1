"""The bounds comparison of the guarantees (bench.report.bounds)."""
from bench.cli import main
from bench.report.bounds import bounds_frame


def test_bounds_at_one_half(capsys):
    """pA = 0.5 certifies nothing under every guarantee; it used to crash the ratio table."""
    assert main(["bounds", "--p-a", "0.5", "0.9"]) == 0
    assert "pixeldp / gaussian" in capsys.readouterr().out


def test_bounds_frame():
    frame = bounds_frame()
    assert len(frame) == 3 * 3 * 7
    assert set(frame.columns) == {"guarantee", "sigma", "p_a", "p_b", "radius", "ratio_to_gaussian"}
    assert (frame[frame.guarantee == "gaussian"].ratio_to_gaussian == 1).all()
    assert (frame.ratio_to_gaussian <= 1 + 1e-12).all()

