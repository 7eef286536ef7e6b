"""The book builds from the executed notebooks, and every page opens in headless Chromium with its figures."""
from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from rilib import results, runner

pytestmark = pytest.mark.book

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

HARNESS = """<!doctype html><html><body><pre id="out">pending</pre><script>
const pages = %s;
const out = [];
function check(i) {
  if (i >= pages.length) { document.getElementById('out').textContent = 'RESULT' + JSON.stringify(out); return; }
  const f = document.createElement('iframe');
  f.style.width = '1200px'; f.style.height = '900px';
  f.onload = () => setTimeout(() => {
    const d = f.contentDocument, w = f.contentWindow;
    const imgs = Array.from(d.querySelectorAll('img'));
    const external = Array.from(d.querySelectorAll('script[src],link[href],img[src]'))
      .map(e => e.src || e.href).filter(u => u && !u.startsWith(location.origin) && !u.startsWith('data:'));
    out.push({page: pages[i], title: d.title, images: imgs.length,
              broken: imgs.filter(im => !(im.complete && im.naturalWidth > 0)).map(im => im.src),
              hasMath: d.querySelectorAll('.math').length, mathjax: typeof w.MathJax !== 'undefined', mathjaxRendered: d.querySelectorAll('.MathJax, mjx-container, .MathJax_CHTML').length,
              external: external,
              rawTable: /\|\s*:?-{3,}:?\s*\|/.test(d.body.innerText) || d.body.innerText.includes('|—|'),
              paramCells: d.querySelectorAll('.tag_injected-parameters, .tag_parameters').length,
              reprs: ["{'", "{‘", "array(", "Counter("].filter(s => d.body.innerText.includes(s)),
              tables: d.querySelectorAll('table').length,
              folded: d.querySelectorAll('.tag_hide-input').length,
              openCode: d.querySelectorAll('.cell:not(.tag_hide-input) .cell_input').length,
              overflow: Array.from(d.querySelectorAll('article table'))
                .filter(t => t.getBoundingClientRect().right > d.documentElement.clientWidth + 1).length});
    f.remove(); check(i + 1);
  }, 3000);
  f.src = pages[i]; document.body.appendChild(f);
}
check(0);
</script></body></html>"""


@pytest.fixture(scope="module")
def built_book(ci_book):
    root, rc = ci_book
    assert rc == 0
    index = runner.build_book(root=root, strict=True)
    assert index.exists()
    return root / "_build" / "html"


def _pages(html: Path) -> list[str]:
    pages = ["book/intro.html", "book/generated/ledger.html", "book/generated/build_report.html",
             "book/profiles.html", "book/performance.html", "book/references.html"]
    pages += [f"book/{p}.html" for p in ("etmann2019", "kim2019", "noack2021", "wang2022")]
    pages += [f"book/generated/notebooks/{s.parent.name}/{s.stem}.html" for s in runner.discover()]
    for p in pages:
        assert (html / p).is_file(), f"{p} was not built"
    return pages


def test_book_pages_exist_and_notebook_pages_have_figures(built_book):
    for p in _pages(built_book):
        text = (built_book / p).read_text()
        assert "cdn.jsdelivr" not in text and "mathjax@3" not in text, f"{p} loads MathJax from the web"
        # every page says which commit and profile it was built from (the ci book: profile ci)
        stamp = re.findall(r'<div class="rilib-build-stamp"[^>]*>(.*?)</div>', text, flags=re.S)
        assert len(stamp) == 1 and "Built from rilib commit <code>" in stamp[0] and "<code>ci</code>" in stamp[0], p
    for s in runner.discover():
        text = (built_book / f"book/generated/notebooks/{s.parent.name}/{s.stem}.html").read_text()
        assert re.search(r'<img[^>]+src="[^"]+\.png"', text), f"{s.stem}: no figure in the page"
    # the ledger page shows, in each claim's own table row, the verdict computed from the records (first column,
    # as a badge), and every artifact page's "Claims on this page" box shows the same verdicts
    ledger = (built_book / "book/generated/ledger.html").read_text()
    root = built_book.parents[1]
    rows = results.ledger_rows(results.load_claims(root / "book" / "claims.yaml"),
                               results.load_records(root / "book" / "generated" / "records"))

    def verdicts_in(html: str) -> dict[str, str]:
        out = {}
        for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", html, flags=re.S):
            cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)
            ids = re.findall(r">([a-z0-9]+20\d\d-[a-z0-9-]+)<", tr)
            if cells and ids:
                assert ids[0] not in out, f"{ids[0]} is in two table rows"
                out[ids[0]] = re.sub(r"<[^>]+>", "", cells[0]).strip()
        return out

    on_ledger = verdicts_in(ledger)
    for r in rows:
        assert on_ledger.get(r["id"]) == r["verdict"], (r["id"], r["verdict"], on_ledger.get(r["id"]))
        assert f'id="{results.anchor(r["id"])}"' in ledger, f"{r['id']}: no entry to link to on the ledger page"
    for src in runner.discover():
        nb = f"{src.parent.name}/{src.stem}"
        page = (built_book / f"book/generated/notebooks/{nb}.html").read_text()
        assert "Claims on this page" in page, f"{nb}: no claims box"
        box = verdicts_in(page[page.index("Claims on this page"):])
        expected = {r["id"]: r["verdict"] for r in rows if r["notebook"] == nb}
        assert box == expected, (nb, box, expected)
    measured = [r for r in rows if r["verdict"] != "not run"]
    assert measured, "no claim has a verdict: the ledger check checked nothing"
    # each chapter page lists its built pages as cards: a link and a thumbnail of the page's first figure
    for src in runner.discover():
        chapter = (built_book / f"book/{src.parent.name}.html").read_text()
        assert f'href="generated/notebooks/{src.parent.name}/{src.stem}.html"' in chapter, src.stem
        assert f"/{src.parent.name}-{src.stem}.png" in chapter, f"{src.stem}: no thumbnail on the chapter page"
    # numbers in the prose are glued from the records: the text shows the recorded value, formatted as recorded
    rec = results.load_records(root / "book" / "generated" / "records")["kim2019/fig3_toy"]
    page = re.sub(r"<[^>]+>", "", (built_book / "book/generated/notebooks/kim2019/fig3_toy.html").read_text())
    shown = rec["formats"]["tilt_drop_weak"].format(results._unplain(rec["values"]["tilt_drop_weak"]))
    assert shown in page and "{glue" not in page, f"glued value {shown!r} not in the Fig 3 page's prose"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_pages_open_in_headless_chromium(built_book, tmp_path):
    pages = _pages(built_book)
    (built_book / "_check.html").write_text(HARNESS % json.dumps(["/" + p for p in pages]))
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, *a):  # ignore client disconnects
            pass

    httpd = Quiet(("127.0.0.1", 0), functools.partial(Handler, directory=str(built_book)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/_check.html"
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=120000", "--dump-dom", url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    finally:
        httpd.shutdown()
    m = re.search(r"RESULT(\[.*\])", proc.stdout)
    assert m, f"harness did not finish: {proc.stdout[-500:]} {proc.stderr[-1500:]}"
    results = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(results) == len(pages)
    for r in results:
        assert r["title"], r
        assert not r["broken"], f"{r['page']}: broken images {r['broken']}"
        assert not r["external"], f"{r['page']}: loads from outside the book {r['external']}"
        if r["hasMath"]:
            assert r["mathjax"] and r["mathjaxRendered"] > 0, f"{r['page']}: formulas not typeset by local MathJax"
    nb_pages = [r for r in results if "/notebooks/" in r["page"]]
    assert all(r["images"] >= 1 for r in nb_pages)
    for r in results:
        # Markdown tables (the profile table every page shows, the ledger) render as tables, not as pipe text
        assert not r["rawTable"], f"{r['page']}: raw Markdown table syntax in the visible text"
    ledger = next(r for r in results if r["page"].endswith("ledger.html"))
    assert ledger["images"] >= 1, "the verdict overview figure is not on the ledger page"
    assert ledger["overflow"] == 0, "the ledger's tables are wider than a 1 200-pixel window (verdicts off-screen)"
    for r in nb_pages:
        assert r["paramCells"] == 0, f"{r['page']}: a parameters cell is on the page (papermill's or the source's)"
        assert not r["reprs"], f"{r['page']}: Python reprs {r['reprs']} in the visible text"
        assert r["tables"] >= 1, f"{r['page']}: the profile table did not render as a table"
        assert r["folded"] >= 1 and r["openCode"] == 0, f"{r['page']}: code is not folded ({r['openCode']} open cells)"
    assert any(r["hasMath"] for r in results), "no page has a formula: the MathJax check checked nothing"
