"""A static site of the field's leaderboard (bench.report.field): results/site/index.html and a page per
benchmark, plus one for the other runs. Each page is one self-contained HTML file (inline style and script,
no fonts or scripts from elsewhere; figures are the PNGs under results/plots/), deterministic (no dates).

A page's table sorts on a click on any column header and filters by text, kind, certifier and extra data.
The state lives in the address's fragment (#sort=r=0.5&desc=1&text=MACER&kind=envelope&noextra=1), so a view
can be linked to, and a headless browser can check it (tests/bench/report/test_site.py).
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from bench.benchmarks import STANDARD, Benchmark
from bench.report.field import DERIVED, ENVELOPE, PER_SIGMA, radius_column

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; cursor: pointer; position: sticky; top: 0; text-align: left; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
td.text { text-align: left; } tr.extra td { color: #7a4b00; } tr.envelope td { font-weight: 600; }
.controls { margin: 0.8em 0; display: flex; gap: 1em; flex-wrap: wrap; align-items: center; }
img { max-width: 100%; border: 1px solid #eee; } .scroll { overflow: auto; max-height: 80vh; } .note { color: #555; max-width: 70em; }
"""

SCRIPT = """
(function () {
  const spec = JSON.parse(document.getElementById('columns').textContent);
  const data = JSON.parse(document.getElementById('rows').textContent);
  const table = document.getElementById('board');
  const body = table.tBodies[0];
  const head = table.tHead.rows[0];
  const rows = data.map(values => {
    const row = document.createElement('tr');
    const record = {};
    spec.forEach((column, i) => { record[column.key] = values[i]; });
    row.dataset.kind = record.kind; row.dataset.certifier = record.certifier;
    row.dataset.extra = record.extra_data ? '1' : '0';
    row.className = record.kind.replace(' ', '-') + (record.extra_data ? ' extra' : '');
    spec.forEach((column, i) => {
      const cell = row.insertCell();
      const value = values[i];
      if (column.numeric) {
        cell.textContent = value === null ? '' : (column.digits === null ? String(value) : value.toFixed(column.digits));
        if (column.interval && value !== null) cell.textContent += ' [' + values[i + 1].toFixed(2) + ', ' + values[i + 2].toFixed(2) + ']';
      } else { cell.textContent = value; cell.className = 'text'; }
      if (column.hidden) cell.hidden = true;
    });
    row.values = values;
    return row;
  });
  spec.forEach((column) => {
    const th = document.createElement('th');
    th.textContent = column.label; th.dataset.key = column.key;
    if (column.hidden) th.hidden = true;
    head.appendChild(th);
  });
  const controls = {text: document.getElementById('text'), kind: document.getElementById('kind'),
                    certifier: document.getElementById('certifier'), noextra: document.getElementById('noextra')};
  let sortColumn = null, descending = false;
  function apply() {
    const text = controls.text.value.toLowerCase();
    let shown = 0;
    const order = rows.slice();
    if (sortColumn !== null) {
      const numeric = spec[sortColumn].numeric;
      order.sort((a, b) => {
        const x = a.values[sortColumn], y = b.values[sortColumn];
        if (x === null || y === null) return (x === null) - (y === null);
        const difference = numeric ? x - y : String(x).localeCompare(String(y));
        return descending ? -difference : difference;
      });
    }
    for (const row of order) {
      const visible = (!text || row.textContent.toLowerCase().includes(text))
        && (!controls.kind.value || row.dataset.kind === controls.kind.value)
        && (!controls.certifier.value || row.dataset.certifier === controls.certifier.value)
        && !(controls.noextra.checked && row.dataset.extra === '1');
      row.hidden = !visible;
      shown += visible;
      body.appendChild(row);
    }
    Array.from(head.cells).forEach((th, i) => {
      th.className = i === sortColumn ? (descending ? 'sorted-desc' : 'sorted-asc') : '';
    });
    document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' rows';
    const state = new URLSearchParams();
    if (sortColumn !== null) { state.set('sort', spec[sortColumn].key); if (descending) state.set('desc', '1'); }
    for (const name of ['text', 'kind', 'certifier']) if (controls[name].value) state.set(name, controls[name].value);
    if (controls.noextra.checked) state.set('noextra', '1');
    history.replaceState(null, '', '#' + state.toString());
  }
  Array.from(head.cells).forEach((th, i) => {
    th.addEventListener('click', () => {
      descending = sortColumn === i ? !descending : spec[i].numeric;
      sortColumn = i;
      apply();
    });
  });
  for (const control of Object.values(controls)) control.addEventListener('input', apply);
  const state = new URLSearchParams(location.hash.slice(1));
  const keyed = spec.findIndex(column => column.key === state.get('sort'));
  if (keyed >= 0) { sortColumn = keyed; descending = state.get('desc') === '1'; }
  controls.text.value = state.get('text') || '';
  controls.kind.value = state.get('kind') || '';
  controls.certifier.value = state.get('certifier') || '';
  controls.noextra.checked = state.get('noextra') === '1';
  apply();
  document.body.dataset.ready = '1';
})();
"""

ERRORS = ("window.addEventListener('error', e => { document.documentElement.dataset.errors = "
          "(document.documentElement.dataset.errors || '') + e.message + '; '; });")


def _page(title: str, body: str, script: str = "") -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><script>{ERRORS}</script></head>\n<body>\n{body}\n"
            + (f"<script>{script}</script>\n" if script else "") + "</body></html>\n")


LEADING = [("rank", "rank", 0), ("kind", "kind", None), ("method", "method", None), ("source", "source", None),
           ("arch", "architecture", None), ("sigma", "sigma", -1)]
TRAILING = [("extra_data", "extra data", None), ("variant", "variant", None), ("certifier", "certifier", None),
            ("train_sigma", "train sigma", -1), ("images", "images", 0), ("n", "n", 0)]
# (key, label, digits: None for text, -1 as it is, else decimals); the radii, ACR and largest radius between


def _json_value(value, digits):
    if digits is None:
        return "" if not isinstance(value, str) else value
    if pd.isna(value):
        return None
    return round(float(value), 3) if digits != 0 else int(value)


def table_html(rows: pd.DataFrame, radii: list[float], headline: float | None) -> str:
    """The table of a page's row sets as data (columns and rows as JSON, rendered by the page's script):
    description, certified accuracy at each radius (the headline's with its interval), ACR, the largest
    certifiable radius and the log or run."""
    def described(columns):
        return [dict(key=key, label=label, numeric=digits is not None, digits=None if digits in (None, -1) else digits)
                for key, label, digits in columns]

    spec, keys = described(LEADING), [(key, digits) for key, _, digits in LEADING]
    for radius in radii:
        column = radius_column(radius)
        spec.append(dict(key=column, label=f"r = {radius:g}", numeric=True, digits=3, interval=radius == headline))
        keys.append((column, 3))
        if radius == headline:
            spec += [dict(key=f"{column} {end}", label=end, numeric=True, digits=2, hidden=True) for end in ("low", "high")]
            keys += [(f"{column} low", 3), (f"{column} high", 3)]
    spec += [dict(key="acr", label="ACR (not ranked)", numeric=True, digits=3),
             dict(key="largest_radius", label="largest radius", numeric=True, digits=2), *described(TRAILING),
             dict(key="file", label="log or run", numeric=False, digits=None)]
    keys += [("acr", 3), ("largest_radius", 3), *[(key, digits) for key, _, digits in TRAILING], ("file", None)]
    data = [[_json_value(row[key], digits) for key, digits in keys] for _, row in rows.iterrows()]
    return ('<div class="scroll"><table id="board"><thead><tr></tr></thead><tbody></tbody></table></div>\n'
            f'<script type="application/json" id="columns">{_json(spec)}</script>\n'
            f'<script type="application/json" id="rows">{_json(data)}</script>')


def _json(value) -> str:
    """Compact JSON safe inside a script element."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def controls_html(rows: pd.DataFrame) -> str:
    kinds = "".join(f"<option value=\"{k}\">{k}</option>" for k in (PER_SIGMA, ENVELOPE, DERIVED)
                    if k in set(rows["kind"]))
    certifiers = "".join(f"<option value=\"{html.escape(c)}\">{html.escape(c)}</option>"
                         for c in sorted(rows["certifier"].dropna().unique()))
    return ("<div class=\"controls\"><label>filter <input id=\"text\" type=\"search\" placeholder=\"method, "
            "model, source...\"></label><label>kind <select id=\"kind\"><option value=\"\">all</option>"
            f"{kinds}</select></label><label>certifier <select id=\"certifier\"><option value=\"\">all</option>"
            f"{certifiers}</select></label><label><input id=\"noextra\" type=\"checkbox\"> without extra data"
            "</label><span id=\"shown\"></span></div>")


def benchmark_page(field: pd.DataFrame, benchmark: Benchmark, plots: list[str]) -> str:
    rows = field[field["benchmark"] == benchmark.name].sort_values(["kind", "rank"], kind="stable")
    figures = "".join(f"<p><img src=\"../plots/{name}\" alt=\"{html.escape(name)}\"></p>" for name in plots)
    body = (f"<p><a href=\"index.html\">All benchmarks</a></p><h1>{html.escape(benchmark.name)}</h1>"
            f"<p class=\"note\">{html.escape(benchmark.describe())}. Ranked by certified accuracy at r = "
            f"{benchmark.headline:g} (with its 95 % Clopper-Pearson interval), ties broken by the next radii; "
            "per-sigma rows and envelopes (per method, best over its sigmas and variants) are ranked apart; "
            "derived rows (other guarantees from the published radii) are not ranked. Rows in brown used extra "
            "data. Click a column to sort.</p>" + controls_html(rows)
            + table_html(rows, list(benchmark.radii), benchmark.headline) + figures)
    return _page(f"smoothbench: {benchmark.name}", body, SCRIPT)


def other_page(field: pd.DataFrame) -> str:
    rows = field[field["benchmark"] == ""].sort_values(["source", "dataset", "method", "sigma"], kind="stable")
    radii = sorted({float(c[2:]) for c in rows.columns if c.startswith("r=") and not c.endswith(("low", "high"))
                    and rows[c].notna().any()})
    body = ("<p><a href=\"index.html\">All benchmarks</a></p><h1>Other runs (not ranked)</h1><p class=\"note\">Row "
            "sets on no benchmark: other test images, another n or alpha, smoke runs; each with the largest radius "
            "its n can certify.</p>" + controls_html(rows) + table_html(rows, radii, None))
    return _page("smoothbench: other runs", body, SCRIPT)


def index_page(field: pd.DataFrame, pages: list[tuple[Benchmark, str]]) -> str:
    items = []
    for benchmark, page in pages:
        rows = field[field["benchmark"] == benchmark.name]
        top = rows[rows["kind"] == ENVELOPE].sort_values("rank").head(3)
        best = "; ".join(f"{r['method']} ({r['source']}{', ' + r['extra_data'] if r['extra_data'] else ''}) "
                         f"{r[radius_column(benchmark.headline)]:.3f}" for _, r in top.iterrows())
        items.append(f"<li><a href=\"{page}\">{html.escape(benchmark.name)}</a>: {html.escape(benchmark.describe())}; "
                     f"{int((rows['kind'] == PER_SIGMA).sum())} rows per sigma. Best methods at r = "
                     f"{benchmark.headline:g}: {html.escape(best)}</li>")
    others = int((field["benchmark"] == "").sum())
    body = ("<h1>smoothbench: certified l2 robustness, the field's leaderboard</h1><p class=\"note\">Every released "
            "per-image certify log (Cohen et al. 2019, SmoothAdv 2019, consistency regularization 2020 with its reruns "
            "of MACER and stability training) and every run of ours, recomputed by one code path, ranked only "
            "against rows measured the same way (same pixels, images, n and alpha). Generated by "
            "<code>smoothbench leaderboard</code>.</p><ul>" + "".join(items)
            + f"<li><a href=\"other.html\">Other runs</a>: {others} row sets on no benchmark, not ranked.</li></ul>")
    return _page("smoothbench leaderboard", body)


def write_site(field: pd.DataFrame, results: Path) -> list[Path]:
    """index.html, one page per benchmark with rows, and other.html under results/site/."""
    folder = results / "site"
    folder.mkdir(parents=True, exist_ok=True)
    plots = {path.name for path in (results / "plots").glob("*.png")}
    pages, written = [], []
    for benchmark in STANDARD:
        if (field["benchmark"] == benchmark.name).any():
            page = f"{benchmark.name}.html"
            figures = sorted(name for name in plots if name.startswith(("field_", "derived_guarantees_"))
                             and name.removesuffix(".png").endswith(benchmark.name))
            (folder / page).write_text(benchmark_page(field, benchmark, figures))
            pages.append((benchmark, page))
            written.append(folder / page)
    (folder / "other.html").write_text(other_page(field))
    (folder / "index.html").write_text(index_page(field, pages))
    return written + [folder / "other.html", folder / "index.html"]
