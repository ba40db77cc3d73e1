"""The static site (bench.report.site), in a real headless browser: it loads without script errors, a click on
a column (the sort in the address) reorders the rows, a filter hides rows. Skipped where no browser is
installed (`make browser` installs Debian's chromium)."""
import re
import shutil
import subprocess

import pandas as pd
import pytest

from bench.report.field import field_frame
from bench.report.site import write_site
from tests.bench.report.test_field import published

BROWSER = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)


def small_field() -> pd.DataFrame:
    return field_frame(pd.concat([
        published(0, 0.25, [0.6]), published(1, 0.5, [0.8], method="MACER"),
        published(2, 1.0, [2.0], correct=[1, 0], method="Consistency (Gaussian)"),
        published(3, 0.5, [0.8], n=10_000),
    ], ignore_index=True), None)


@pytest.fixture
def site(tmp_path):
    (tmp_path / "plots").mkdir()
    write_site(small_field(), tmp_path)
    return tmp_path / "site"


def test_pages_are_self_contained_and_deterministic(site, tmp_path):
    page = (site / "cifar10-paper.html").read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing from elsewhere
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    first = {path.name: path.read_bytes() for path in site.iterdir()}
    assert {"index.html", "cifar10-paper.html", "other.html"} <= set(first)
    write_site(small_field(), tmp_path)
    assert {path.name: path.read_bytes() for path in site.iterdir()} == first  # same inputs, same bytes
    assert 'href="cifar10-paper.html"' in (site / "index.html").read_text()


def dom(page, fragment: str = "") -> str:
    result = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                             f"file://{page}#{fragment}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def visible_rows(text: str) -> list[list[str]]:
    rows = re.findall(r"<tr([^>]*)>(.*?)</tr>", text)
    return [re.findall(r"<td[^>]*>(.*?)</td>", cells) for attributes, cells in rows
            if "data-kind" in attributes and "hidden" not in attributes]


@pytest.mark.skipif(BROWSER is None, reason="no chromium installed (make browser)")
def test_sorting_and_filtering_in_a_real_browser(site):
    page = site / "cifar10-paper.html"
    loaded = dom(page, "kind=per+sigma")
    assert 'data-ready="1"' in loaded and "data-errors" not in loaded
    assert re.search(r'id="shown">3 of \d+ rows', loaded)
    methods = lambda rows: [row[2] for row in rows]
    ascending = visible_rows(dom(page, "kind=per+sigma&sort=r%3D0.75"))  # r = 0.75: Gaussian 0, Consistency 0.5, MACER 1
    descending = visible_rows(dom(page, "kind=per+sigma&sort=r%3D0.75&desc=1"))
    assert methods(ascending) == ["Gaussian augmentation", "Consistency (Gaussian)", "MACER"]
    assert methods(descending) == methods(ascending)[::-1]
    filtered = visible_rows(dom(page, "text=macer"))
    assert {row[2] for row in filtered} == {"MACER"}  # its row, its envelope and the three derived guarantees
    assert sorted(row[1] for row in filtered) == ["derived"] * 3 + ["envelope", "per sigma"]
    assert 'data-ready="1"' in dom(site / "other.html") and "data-errors" not in dom(site / "index.html")
