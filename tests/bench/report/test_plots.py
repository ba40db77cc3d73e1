"""Figures (bench.report.plots): one colour per name in every figure."""
from bench.report.plots import certifier_colours, scheme_colours


def test_a_name_keeps_its_colour_whatever_else_is_drawn():
    alone = certifier_colours(["pixeldp"])["pixeldp"]
    assert certifier_colours(["gaussian", "li-renyi", "pixeldp"])["pixeldp"] == alone
    assert certifier_colours(["lipschitz-margin", "pixeldp"])["pixeldp"] == alone
    assert len(set(certifier_colours(["gaussian", "li-renyi", "pixeldp", "lipschitz-margin"]).values())) == 4
    assert scheme_colours(["grid"])["grid"] == scheme_colours(["fixed", "grid"])["grid"]


def test_every_timed_method_has_its_colour():
    import pandas as pd

    from bench.report.plots import named_colours
    from bench.tools.throughput import METHOD_NAMES
    from tests.helpers import REPOSITORY

    timed = set()
    for path in (REPOSITORY / "results" / "throughput").glob("*.csv"):
        frame = pd.read_csv(path)
        timed |= set(frame["method"]) if "method" in frame else set()
    assert timed and timed <= set(METHOD_NAMES)
    assert named_colours(["ours"], list(METHOD_NAMES)) == {"ours": named_colours(list(METHOD_NAMES), list(METHOD_NAMES))["ours"]}


def test_a_run_part_way_names_each_panels_images(tmp_path, monkeypatch):
    import pandas as pd

    from bench.report import plots

    def rows(model: str, sigma: float, images: int) -> list[dict]:
        return [dict(dataset="cifar10", run="cpu", model=model, certifier="gaussian", sigma=sigma, n=1000,
                     correct=1, radius=0.1 * (i + 1)) for i in range(images)]

    titles = {}

    def capture(figure, stem):
        titles[stem.name] = [axis.get_title() for axis in figure.axes], figure.get_suptitle()
        return []

    monkeypatch.setattr(plots, "save", capture)
    plots.plot_certified_accuracy(pd.DataFrame(rows("a", 0.25, 3) + rows("b", 0.5, 2)), tmp_path)
    panels, heading = titles["certified_accuracy_cpu"]
    assert panels[:2] == ["a, sigma = 0.25 (3 images)", "b, sigma = 0.5 (2 images)"]
    assert heading.startswith("Certified accuracy on cifar10: up to 3 test images, n = 1,000")
    assert panels[2] == "envelope over the models and sigmas with 3 images"
    plots.plot_certified_accuracy(pd.DataFrame(rows("a", 0.25, 3) + rows("b", 0.5, 3)), tmp_path / "whole")
    panels, heading = titles["certified_accuracy_cpu"]
    assert panels[:2] == ["a, sigma = 0.25", "b, sigma = 0.5"] and "up to" not in heading


def test_the_envelope_of_a_run_part_way_leaves_out_curves_over_fewer_images():
    """Sigma 0.5, part way, certifies both of its first 2 images at 0.4; sigma 0.25 certifies 2 of all 4.
    The envelope is over the 4 images, so it says 0.5 below r = 0.4, not the part-way curve's 1."""
    import pandas as pd

    from bench.report.plots import ENVELOPE, certified_curves

    def row(sigma: float, idx: int, correct: int, radius: float) -> dict:
        return dict(dataset="cifar10", run="cpu", model=f"m{sigma}", certifier="gaussian", sigma=sigma, n=1000,
                    idx=idx, correct=correct, radius=radius)

    whole = [row(0.25, i, int(i < 2), 0.45) for i in range(4)]
    part = [row(0.5, i, 1, 0.4) for i in range(2)]
    curves = certified_curves(pd.DataFrame(whole + part))
    envelope = curves[curves["model"] == ENVELOPE]
    assert envelope.loc[envelope["radius"] < 0.4, "accuracy"].max() == 0.5
    assert (envelope["images"] == 4).all()
