"""Certified-accuracy tables of certify logs (bench.report.tables), the paper's published tables digit for digit."""
import re

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.report.tables import (
    accuracy_frame,
    certified_accuracy,
    latex_table,
    markdown_table,
    radius_grid,
    read_certify_log,
)

PAPER_TABLES = {
    "cifar10": ("cifar10/resnet110", ["0.12", "0.25", "0.50", "1.00"], (0.25, 1.5, 0.25)),
    "imagenet": ("imagenet/resnet50", ["0.25", "0.50", "1.00"], (0.5, 3.0, 0.5)),
}


def published_cells(text: str) -> list[list[str]]:
    """The body cells of a published Markdown table, '*' kept: [['0.59', '0.00', ...], ...]."""
    rows = [line for line in text.splitlines() if line.startswith("<b>")]
    return [[cell.replace("<b>*</b>", "*").strip() for cell in row.split("|")[1:-1]] for row in rows]


@pytest.mark.parametrize("dataset", PAPER_TABLES)
def test_reproduces_the_published_tables(shared, dataset):
    """Our table of the reference's own certify logs prints the paper's numbers, stars included."""
    folder, sigmas, grid = PAPER_TABLES[dataset]
    root = shared / "reference/cohen2019"
    logs = {s: read_certify_log(root / f"data/certify/{folder}/noise_{s}/test/sigma_{s}") for s in sigmas}
    frame = accuracy_frame(logs, radius_grid(*grid))
    ours = [[cell.strip() for cell in line.split("|")[2:-1]] for line in markdown_table(frame).splitlines()[2:]]
    assert ours == published_cells((root / f"published/analysis_markdown_vary_noise_{dataset}").read_text())
    published_tex = (root / f"published/analysis_latex_vary_noise_{dataset}").read_text()
    body = lambda tex: [line.split("&")[1:] for line in tex.split("\\midrule")[1].strip().splitlines()]
    cells = lambda tex: [[(re.search(r"\d\.\d\d", c).group(), "textbf" in c) for c in row] for row in body(tex)]
    assert cells(latex_table(frame)) == cells(published_tex)


def test_table_command_writes_views(shared, tmp_path, capsys):
    log = shared / "reference/cohen2019/data/certify/cifar10/resnet110/noise_0.25/test/sigma_0.25"
    assert main(["table", str(log), "--radii", "0.25", "0.5", "--out", str(tmp_path / "t")]) == 0
    assert "| sigma = 0.25 | 0.60*" in capsys.readouterr().out
    assert {p.suffix for p in tmp_path.iterdir()} == {".md", ".tex", ".csv"}


def test_best_entries_and_ties():
    import pandas as pd

    logs = {"a": pd.DataFrame(dict(correct=[1, 1, 0], radius=[0.2, 0.9, 0.0])),
            "b": pd.DataFrame(dict(correct=[1, 0, 1], radius=[0.6, 0.0, 0.4]))}
    frame = accuracy_frame(logs, [0.0, 0.5])
    assert frame.accuracy.tolist() == pytest.approx([2 / 3, 1 / 3, 2 / 3, 1 / 3])
    assert frame.best.all()  # ties are all best


@pytest.mark.parametrize("content,message", [
    ("idx\tlabel\tpredict\tcorrect\ttime\n0\t1\t1\t1\t0.1\n", ":1: not a certify log"),
    ("idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t1\t1\t0.5\t1\t0.1\n1\t2\t2\tabc\t1\t0.1\n", ":3: unreadable row"),
    ("idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t1\t1\t0.5\t1\n", ":2: unreadable row (5 fields, expected 6)"),
    ("", ":1: not a certify log"),
])
def test_foreign_or_corrupt_logs(tmp_path, content, message):
    path = tmp_path / "log.tsv"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(f"{path}{message}")):
        read_certify_log(path)


def test_missing_log(tmp_path, capsys):
    assert main(["table", str(tmp_path / "absent.tsv")]) == 2
    assert "certify log not found" in capsys.readouterr().err



def test_certified_accuracy_is_the_fraction_certified_at_each_radius():
    """Binary search over the sorted radii equals counting directly; abstentions (NaN radius), wrong
    predictions and a radius exactly at r are handled as the definition says; no rows give NaN."""
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(dict(correct=rng.integers(0, 2, 300), radius=rng.choice([0.0, 0.25, 0.5, 0.7, np.nan], 300)))
    radii = [0.0, 0.1, 0.25, 0.5, 0.6, 0.7, 1.0]
    direct = [((rows["correct"] == 1) & (rows["radius"] >= r)).sum() / len(rows) for r in radii]
    assert certified_accuracy(rows, radii) == direct
    assert np.isnan(certified_accuracy(rows.iloc[:0], [0.0])).all()
