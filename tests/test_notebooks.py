"""Every notebook executes under papermill at profile ci, records its numbers, and feeds the ledger."""
from __future__ import annotations

import json
import math

import nbformat
import pytest

from rilib import results, runner

pytestmark = pytest.mark.notebooks


def test_all_notebooks_execute_at_ci(ci_book):
    root, rc = ci_book
    report = (root / "book" / "generated" / "build_report.md").read_text()
    assert rc == 0, report
    for src in runner.discover():
        out = root / "book" / "generated" / "notebooks" / src.parent.name / f"{src.stem}.ipynb"
        nb = nbformat.read(out, as_version=4)
        assert nb.metadata["papermill"]["parameters"] == {"profile": "ci"}
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{src}: {errors[:1]}"
        images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if "image/png" in o.get("data", {})]
        assert images, f"{src} shows no figure"
        # the source .py is untouched by papermill (no injected-parameters cell leaks back)
        assert "injected-parameters" not in src.read_text()


def test_records_feed_every_rule(ci_book):
    root, _ = ci_book
    recs = results.load_records(root / "book" / "generated" / "records")
    assert recs, "no records written"
    for nb, rec in recs.items():
        assert rec["profile"] == "ci"
        # NaN is legitimate at ci (e.g. a correlation over < 3 successful CW attacks), but not everywhere
        floats = [v for v in rec["values"].values() if isinstance(v, float)]
        assert floats and any(not math.isnan(v) for v in floats), f"{nb}: no finite number recorded"
    rows = results.ledger_rows(results.load_claims(root / "book" / "claims.yaml"), recs)
    measured = [r for r in rows if r["rule"]]
    assert measured
    for r in measured:
        assert r["verdict"] in ("reproduced", "reproduced on substitute", "diverges"), (r["id"], r["verdict"])
    ledger = (root / "book" / "generated" / "ledger.md").read_text()
    assert "Numbers from profile `ci` are plumbing checks" in ledger


def test_same_command_twice_gives_same_numbers(ci_book, tmp_path, monkeypatch):
    """Seeded end to end: re-executing a notebook (models now loaded from the zoo) reproduces its record."""
    root, _ = ci_book
    before = json.loads((root / "book" / "generated" / "records" / "kim2019__fig3_toy.json").read_text())["values"]
    monkeypatch.setenv("RILIB_RECORDS", str(tmp_path))
    run = runner.execute(runner.NOTEBOOKS / "kim2019" / "fig3_toy.py", profile="ci", generated=tmp_path / "gen")
    assert run.ok, run.error
    after = json.loads((tmp_path / "kim2019__fig3_toy.json").read_text())["values"]
    assert after == before


def test_a_failing_notebook_is_named_with_its_cell(tmp_path, monkeypatch):
    paper = tmp_path / "nbs" / "demo"
    paper.mkdir(parents=True)
    src = paper / "broken.py"
    src.write_text('# %% tags=["parameters"]\nprofile = "default"\n\n# %%\nx = 1\n\n# %%\nraise RuntimeError("boom")\n')
    monkeypatch.setenv("RILIB_RECORDS", str(tmp_path / "rec"))
    run = runner.execute(src, profile="ci", generated=tmp_path / "book" / "generated")
    assert not run.ok and run.name == "demo/broken"
    assert "RuntimeError" in run.error and "boom" in run.error and "cell [" in run.error
