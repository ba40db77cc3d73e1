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
