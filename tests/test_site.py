"""The rendered site in a real browser: Debian's ``chromium`` driven headless by Selenium through
Debian's ``chromium-driver`` (no browser download). The test renders the site of the bundled data
from the stored notebooks (as ``make report`` renders its own run), opens the index, follows every link and asserts: no console
errors, every image loaded, no horizontal scrolling of the page at 1280 px, a back link and a table
of contents on every notebook page, no injected-parameters cell, and, when the claims notebook (05)
exists, its claims table visible with no failing row. Screenshots go to ``reports/screenshots/``.

Skips when chromium, chromedriver or selenium is missing, unless ``SLE_REQUIRE_BROWSER=1`` (which
``.ci/run`` sets after installing them with apt): then their absence is a failure.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from sle_nb_utils import config

ROOT = config.PROJ_ROOT
SHOTS = config.REPORTS_DIR / "screenshots"
WIDTH = 1280


def _browser_paths():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists()
                                              else None)
    return chromium, driver


def _require_or_skip(reason: str):
    if os.environ.get("SLE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} although SLE_REQUIRE_BROWSER=1 (apt-get install chromium chromium-driver)")
    pytest.skip(reason)


def start_driver():
    """A headless Chromium (Debian's) under Debian's chromedriver; skips (or fails, with
    ``SLE_REQUIRE_BROWSER=1``) when either or selenium is missing."""
    chromium, chromedriver = _browser_paths()
    if not chromium or not chromedriver:
        _require_or_skip("Debian's chromium / chromium-driver not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _require_or_skip("selenium not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--window-size={WIDTH},900", "--force-device-scale-factor=1"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(chromedriver), options=opts)
    d.set_page_load_timeout(120)
    return d


@pytest.fixture(scope="module")
def driver():
    d = start_driver()
    yield d
    d.quit()


def test_missing_browser_skips_unless_required(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "_browser_paths", lambda: (None, None))
    monkeypatch.delenv("SLE_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception):
        start_driver()
    monkeypatch.setenv("SLE_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="SLE_REQUIRE_BROWSER=1"):
        start_driver()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site of the bundled data, rendered from the stored notebooks of ``notebooks/`` (whose
    outputs nbval checks against a fresh execution in the same ``make test``) by the code ``run``
    renders with (``report.render_site``). Executing the collection again here would cost about
    45 s of CPU for the same pages; ``run`` itself is exercised on the bundled data by
    ``test_report_determinism.py`` (``make rerun``) and on a user's series by
    ``test_own_cohort.py``."""
    from sle_nb_utils import report

    prov = report.provenance(config.RAW_DIR, bundled=True)
    index = report.render_site(report.notebook_paths(), tmp_path_factory.mktemp("site"), prov=prov, bundled=True)
    return index.parent


def _errors(d) -> list:
    return [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]


def _load(d, url: str):
    d.get(url)
    d.execute_script("return document.readyState")
    # wait until every image finished decoding (data: URIs, so this is quick)
    for _ in range(50):
        if d.execute_script("return Array.from(document.images).every(i => i.complete)"):
            break
        d.implicitly_wait(0.1)


def _screenshot(d, name: str):
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = min(d.execute_script("return document.documentElement.scrollHeight"), 6000)
    d.set_window_size(WIDTH, max(height, 600))
    d.save_screenshot(str(SHOTS / f"{name}.png"))
    d.set_window_size(WIDTH, 900)


def _claims_check(d, page: str) -> list:
    """Problems with the claims table of notebook 05 (visible, no failing row)."""
    found = d.execute_script(r"""
      const out = [];
      for (const t of document.querySelectorAll('table')) {
        const rows = Array.from(t.querySelectorAll('thead tr'))
          .map(r => Array.from(r.querySelectorAll('th, td')).map(h => h.innerText.trim().toLowerCase()));
        if (!rows.some(r => r.some(h => h.includes('claim')))) continue;
        const r = t.getBoundingClientRect();
        const visible = r.width > 0 && r.height > 0 && getComputedStyle(t).visibility !== 'hidden';
        // the header row that names the verdict column; body cells line up with it
        const isCheck = h => /calibration|check|pass|agree|match|status|^ok$/.test(h);
        const head = rows.find(r => r.some(isCheck)) || [];
        const col = head.findIndex(isCheck);
        const bad = [], seen = [];
        for (const row of t.querySelectorAll('tbody tr')) {
          const cells = Array.from(row.querySelectorAll('th, td')).map(c => c.innerText.trim());
          const v = col >= 0 ? (cells[col + cells.length - head.length] || '') : cells.join(' ');
          seen.push(v);
          // claims.py's verdicts: "agrees (by construction)", "differs", "not computed: ...", "not testable"
          if (/^(false|fail|failed|no|✗|x|differs)$/i.test(v) || /^not computed/i.test(v) || /\bFAIL/.test(v))
            bad.push(cells.join(' | '));
        }
        out.push({visible: visible, rows: t.querySelectorAll('tbody tr').length, bad: bad, col: col,
                  values: Array.from(new Set(seen))});
      }
      return out;""")
    if not found:
        return [f"{page}: no table with a 'claim' column"]
    problems = []
    for t in found:
        if not t["visible"] or not t["rows"]:
            problems.append(f"{page}: claims table not visible or empty")
        problems += [f"{page}: failing claim row: {b}" for b in t["bad"]]
    return problems


@pytest.mark.slow
def test_site_in_chromium(driver, site):
    d = driver
    index = (site / "index.html").resolve()
    _load(d, index.as_uri())
    problems = [f"index: console error {e['message']}" for e in _errors(d)]
    _screenshot(d, "index")
    links = d.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
    pages = sorted({h for h in links if h.endswith(".html") and not urlparse(h).scheme})
    notebooks = sorted(p.name for p in site.glob("[0-9][0-9]_*.html"))
    assert pages == notebooks and len(pages) >= 3, (pages, notebooks)
    assert "Provenance" in d.page_source and "sha256" in d.page_source
    for page in pages:
        url = urljoin(index.as_uri(), page)
        _load(d, url)
        name = page[:-5]
        problems += [f"{name}: console error {e['message']}" for e in _errors(d)]
        state = d.execute_script("""
          const imgs = Array.from(document.images);
          const de = document.documentElement;
          return {broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length, images: imgs.length,
                  scroll: de.scrollWidth, client: de.clientWidth,
                  back: Array.from(document.querySelectorAll('a[href="index.html"]')).length,
                  toc: document.querySelectorAll('nav.site-nav li a[href^="#"]').length,
                  injected: document.querySelectorAll('.celltag_injected-parameters').length
                            + Array.from(document.querySelectorAll('.jp-InputArea-editor'))
                                .filter(e => e.innerText.trim().split(String.fromCharCode(10))[0].trim()
                                             === '# Parameters').length,
                  title: document.title};""")
        if state["broken"]:
            problems.append(f"{name}: {state['broken']} of {state['images']} images not loaded")
        if state["scroll"] > state["client"]:
            problems.append(f"{name}: page scrolls horizontally at {WIDTH} px "
                            f"({state['scroll']} > {state['client']})")
        if state["back"] < 1:
            problems.append(f"{name}: no back link to the index")
        if state["toc"] < 1:
            problems.append(f"{name}: no table of contents")
        if state["injected"]:
            problems.append(f"{name}: injected-parameters cell shown")
        # every in-page link of the table of contents points at an element that exists
        dangling = d.execute_script("""
          // the HTML spec tries the fragment as written, then percent-decoded
          return Array.from(document.querySelectorAll('nav.site-nav a[href^="#"]'))
            .map(a => a.getAttribute('href').slice(1))
            .filter(id => !document.getElementById(id) && !document.getElementById(decodeURIComponent(id)));""")
        problems += [f"{name}: table of contents points at missing #{i}" for i in dangling]
        if name.startswith("05_"):
            problems += _claims_check(d, name)
        _screenshot(d, name)
        # the back link leads to the index
        d.find_element("css selector", 'nav.site-nav a[href="index.html"]').click()
        if not d.current_url.endswith("/index.html"):
            problems.append(f"{name}: back link went to {d.current_url}")
    assert not problems, "\n".join(problems)
    assert sorted(p.name for p in SHOTS.glob("*.png")) >= sorted(["index.png"] + [p[:-5] + ".png" for p in pages])


# ---- the site's furniture without a browser (fast) ----------------------------------------------
PROV = {"commit": "0123456789abcdef", "data_sha256": "f" * 64, "run_date_utc": "2026-01-01 00:00 UTC",
        "versions": {"python": "3.11"}, "data": "bundled"}


def test_decorate_tables_nav_and_figures():
    import base64
    import io

    import matplotlib.pyplot as plt
    import pandas as pd

    from sle_nb_utils import report

    fig, ax = plt.subplots(figsize=(4, 3), dpi=150)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    png = base64.b64encode(buf.getvalue()).decode()
    df = pd.DataFrame({"group": ["hsct_burt2006", "a long reason"], "n": [12, None]})
    body = (f"<html><head><title>x</title></head><body><h1 id='T'>T</h1><h2 id='Sec-1'>Sec 1</h2>"
            f"{df.to_html()}<h3 id='Sub'>Sub</h3><img src='data:image/png;base64,{png}'></body></html>")
    out = report._decorate(body, "04 · Survival curves", PROV)
    assert '<a href="index.html">← All notebooks</a>' in out and out.count('href="index.html"') == 2
    assert 'href="#Sec-1"' in out and 'href="#Sub"' in out and 'href="#T"' not in out
    assert ">NaN<" not in out and ">—<" in out
    assert "<th>0</th>" not in out and "<th>1</th>" not in out  # the 0..n index is gone
    assert 'class="txt">a long reason' in out and 'class="txt">12.0' not in out
    assert 'width="384"' in out  # 4 in at 150 dpi = 600 px, shown at 96 px per inch
    assert "0123456789ab" in out and "f" * 16 in out  # provenance footer


def test_index_summary_from_the_notebook():
    import nbformat

    from sle_nb_utils import report

    nb = nbformat.v4.new_notebook()
    key = nbformat.v4.new_code_cell("print('OS at 5 years: 84%')")
    key.metadata["tags"] = ["key-result"]
    key.outputs = [nbformat.v4.new_output("stream", name="stdout", text="OS at 5 years: 84%\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# 04 · How many are alive at five years? More text."), key]
    s = report.notebook_summary(nb, Path("04_survival_curves.ipynb"), bundled=False)
    assert s == {"file": "04_survival_curves", "title": "04 · Survival curves",
                 "question": "How many are alive at five years?", "key_result": "OS at 5 years: 84%"}
    html = report._index([s], {**PROV, "data": "user-supplied export"}, bundled=False)
    for needle in ("How many are alive at five years?", "OS at 5 years: 84%", "04_survival_curves.html",
                   "Provenance", "0123456789abcdef", "python 3.11"):
        assert needle in html
    assert "synthetic" not in html.lower()


def test_golden_notebooks_carry_no_provenance_and_no_injected_cell():
    for path in sorted(config.NOTEBOOKS_DIR.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        assert "data_sha256" not in text and "run_date_utc" not in text, path.name
        assert '"injected-parameters"' not in text, path.name


def test_display_table_helpers():
    import numpy as np
    import pandas as pd

    from sle_nb_utils import display

    df = pd.DataFrame({"reason": ["date after last contact", "b", "c"], "rows": [3, 12, 0],
                       "pct": [1.234, np.nan, 3.0]})
    t = display.table(df, decimals=1, min_count=5)
    text = repr(t)
    assert "<5" in text and "12" in text and "—" in text and "NaN" not in text
    assert text.splitlines()[0].split() == ["reason", "rows", "pct"]  # no index column
    html = t._repr_html_()
    assert '<td class="txt">date after last contact</td>' in html and "<th></th>" not in html
    assert '<td class="num">1.2</td>' in html and '<td class="num">&lt;5</td>' in html
    counts = display.counts_by(pd.DataFrame({"reason": list("aaabbbbbbc")}))
    assert counts.to_dict("list") == {"reason": ["b", "a", "c"], "rows": [6, "<5", "<5"]}
    md = display.key_result("OS 84% at 5 years")
    assert md.data == "**Key result.** OS 84% at 5 years"
    w = display.wide(pd.DataFrame({"g": ["x", "x", "y"], "m": [0, 12, 0], "v": [10, 8, 5]}), "g", "m", "v")
    assert list(w.columns) == ["g", "0", "12"] and w.shape == (2, 3)
