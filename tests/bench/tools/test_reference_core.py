"""Loading a user's copy of the reference's code/core.py with its removed imports replaced in memory."""
import pytest
from scipy.stats import binomtest

from bench.tools.reference_core import load_reference_core, proportion_confint
from smoothing.statistics import clopper_pearson_lower, clopper_pearson_upper

# The lines of the reference's core.py that the loader depends on, around a stand-in body.
STAND_IN = '''import torch
from scipy.stats import norm, binom_test
import numpy as np
from math import ceil
from statsmodels.stats.proportion import proportion_confint


class Smooth(object):
    ABSTAIN = -1

    def lower(self, NA, N, alpha):
        return proportion_confint(NA, N, alpha=2 * alpha, method="beta")[0]

    def pvalue(self, count1, count2):
        return binom_test(count1, count1 + count2, p=0.5)
'''


def test_reference_core_loads_with_exact_replacements(tmp_path):
    path = tmp_path / "core.py"
    path.write_text(STAND_IN)
    smooth = load_reference_core(path).Smooth()
    assert smooth.lower(990, 1000, 0.001) == pytest.approx(float(clopper_pearson_lower(990, 1000, 0.001)), rel=1e-12)
    assert smooth.pvalue(60, 40) == binomtest(60, 100, 0.5).pvalue
    assert path.read_text() == STAND_IN  # the user's file is untouched
    low, high = proportion_confint(3, 50, alpha=0.1)
    assert low == pytest.approx(float(clopper_pearson_lower(3, 50, 0.05))) and high == pytest.approx(
        float(clopper_pearson_upper(3, 50, 0.05)))


def test_reference_core_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="reference core.py not found"):
        load_reference_core(tmp_path / "absent.py")
    (tmp_path / "other.py").write_text("print('hello')\n")
    with pytest.raises(ValueError, match="is not the reference's code/core.py"):
        load_reference_core(tmp_path / "other.py")

