"""Load a user's copy of the reference implementation's `code/core.py` (github.com/locuslab/smoothing), to
time its CERTIFY beside ours on the same network and batch. Its code is not ours and is never shipped:
the path comes from the user. Two of its imports no longer exist in today's libraries, so they are
replaced in the loaded text (the file on disk is untouched) by exact equivalents:
  * scipy.stats.binom_test (removed in SciPy 1.12) -> scipy.stats.binomtest(k, n, p).pvalue;
  * statsmodels' proportion_confint(k, n, alpha, method="beta"), where statsmodels is not installed ->
    the Clopper-Pearson interval from scipy's beta quantiles (statsmodels' own formula).
"""
from __future__ import annotations

import importlib.util
import types
from pathlib import Path

from scipy.stats import beta, binomtest

BINOM_IMPORT = "from scipy.stats import norm, binom_test"
CONFINT_IMPORT = "from statsmodels.stats.proportion import proportion_confint"


def binom_test(successes: int, trials: int, p: float = 0.5) -> float:
    return binomtest(int(successes), int(trials), p).pvalue


def proportion_confint(count: int, nobs: int, alpha: float = 0.05, method: str = "beta") -> tuple[float, float]:
    """Clopper-Pearson ("beta") two-sided interval, as statsmodels computes it."""
    if method != "beta":
        raise ValueError(f"only method='beta' (Clopper-Pearson) is provided here, got {method!r}")
    low = beta.ppf(alpha / 2, count, nobs - count + 1) if count > 0 else 0.0
    high = beta.ppf(1 - alpha / 2, count + 1, nobs - count) if count < nobs else 1.0
    return float(low), float(high)


def load_reference_core(path: str | Path) -> types.ModuleType:
    """The module of the reference's core.py at `path` (its Smooth class with certify and predict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference core.py not found: {path}; pass the path of code/core.py in a clone of "
                                "github.com/locuslab/smoothing")
    source = path.read_text(encoding="utf-8")
    if BINOM_IMPORT not in source or "class Smooth" not in source:
        raise ValueError(f"{path} is not the reference's code/core.py (no `{BINOM_IMPORT}` or class Smooth)")
    module = types.ModuleType("reference_core")
    module.__file__ = str(path)
    source = source.replace(BINOM_IMPORT, "from scipy.stats import norm")
    module.binom_test = binom_test
    if importlib.util.find_spec("statsmodels") is None:
        source = source.replace(CONFINT_IMPORT, "")
        module.proportion_confint = proportion_confint
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module
