"""Figures (bench.report.plots): one colour per name in every figure."""
from bench.report.plots import certifier_colours, scheme_colours


def test_a_name_keeps_its_colour_whatever_else_is_drawn():
    alone = certifier_colours(["pixeldp"])["pixeldp"]
    assert certifier_colours(["gaussian", "li-renyi", "pixeldp"])["pixeldp"] == alone
    assert certifier_colours(["lipschitz-margin", "pixeldp"])["pixeldp"] == alone
    assert len(set(certifier_colours(["gaussian", "li-renyi", "pixeldp", "lipschitz-margin"]).values())) == 4
    assert scheme_colours(["grid"])["grid"] == scheme_colours(["fixed", "grid"])["grid"]
