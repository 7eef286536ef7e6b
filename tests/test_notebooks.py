"""Every notebook executes under papermill at profile ci, records its numbers, and feeds the ledger."""
from __future__ import annotations

import json
import shutil

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
    """Every name a claim's rule reads is recorded by its notebook; identity checks hold even at ci (they fail only
    through a bug); no measured claim is left without a verdict for a reason other than a NaN at this tiny scale."""
    root, _ = ci_book
    recs = results.load_records(root / "book" / "generated" / "records")
    assert recs, "no records written"
    claims = results.load_claims(root / "book" / "claims.yaml")
    for c in claims:
        if not c["rule"]:
            continue
        assert c["notebook"] in recs, f"{c['id']}: its notebook {c['notebook']} wrote no record"
        missing = set(results.rule_names(c["rule"])) - set(recs[c["notebook"]]["values"])
        assert not missing, f"{c['id']}: the rule reads {sorted(missing)}, which {c['notebook']} does not record"
    for nb, rec in recs.items():
        assert rec["profile"] == "ci", nb
    rows = results.ledger_rows(claims, recs)
    for r in rows:
        if r["rule"] and r["kind"] == "identity":
            assert r["verdict"] == "identity holds", (r["id"], r["verdict"], r["why"], r["ours"])
        if r["rule"] and r["verdict"] == "not run":
            assert "NaN" in r["why"], (r["id"], r["why"])  # e.g. a correlation over < 3 successful CW attacks
    ledger = (root / "book" / "generated" / "ledger.md").read_text()
    assert "Numbers from profile `ci` are plumbing checks" in ledger
    counts = results.verdict_counts(rows)
    assert f"| **total** | {sum(counts['empirical'].values())} | {sum(counts['identity'].values())} |" in ledger


def test_same_command_twice_gives_same_numbers(ci_book, tmp_path, monkeypatch):
    """Seeded end to end: re-executing a notebook (models now loaded from the zoo) reproduces its record."""
    root, _ = ci_book
    before = json.loads((root / "book" / "generated" / "records" / "kim2019__fig3_toy.json").read_text())["values"]
    monkeypatch.setenv("RILIB_RECORDS", str(tmp_path))
    run = runner.execute(runner.NOTEBOOKS / "kim2019" / "fig3_toy.py", profile="ci", generated=tmp_path / "gen")
    assert run.ok, run.error
    after = json.loads((tmp_path / "kim2019__fig3_toy.json").read_text())["values"]
    assert after == before


def _demo(tmp_path, monkeypatch, name: str, text: str):
    """A notebook source ``nbs/demo/<name>.py`` under ``tmp_path``, its records in ``tmp_path``'s book."""
    paper = tmp_path / "nbs" / "demo"
    paper.mkdir(parents=True, exist_ok=True)
    src = paper / f"{name}.py"
    src.write_text(text)
    monkeypatch.setenv("RILIB_RECORDS", str(tmp_path / "book" / "generated" / "records"))
    return src


BROKEN = '# %% tags=["parameters"]\nprofile = "default"\n\n# %%\nx = 1\n\n# %%\nraise RuntimeError("boom")\n'


def test_a_failing_notebook_is_named_with_its_cell(tmp_path, monkeypatch):
    src = _demo(tmp_path, monkeypatch, "broken", BROKEN)
    run = runner.execute(src, profile="ci", generated=tmp_path / "book" / "generated")
    assert not run.ok and run.name == "demo/broken"
    assert "RuntimeError" in run.error and "boom" in run.error and "cell [" in run.error


TINY = '''# %% tags=["parameters"]
profile = "default"

# %%
import matplotlib.pyplot as plt

from rilib import plotting
from rilib.results import Recorder

rec = Recorder("demo/tiny", profile=profile)
rec("x", 1.5)
fig, ax = plt.subplots()
ax.plot([0, 1], [0, 1])
plotting.save(fig, "demo_tiny")
'''


def test_an_up_to_date_notebook_is_kept_and_every_change_executes_it_again(tmp_path, monkeypatch):
    """The runner keeps an executed notebook only while its execution key and its outputs are unchanged."""
    src = _demo(tmp_path, monkeypatch, "tiny", TINY)
    records = tmp_path / "book" / "generated" / "records"
    gen = tmp_path / "book" / "generated"
    out = gen / "notebooks" / "demo" / "tiny.ipynb"
    assert runner.stale(src, out, "ci") == "not executed yet"

    first = runner.execute(src, profile="ci", generated=gen)
    assert first.ok and not first.reused, first.error
    meta = nbformat.read(out, as_version=4).metadata[runner.META]
    assert set(meta["outputs"]) == {"records/demo__tiny.json", "figures/demo_tiny.png"}
    assert meta["key"]["spec"]["profile"] == "ci" and meta["key"]["kind"] == "notebook-execution"
    assert runner.stale(src, out, "ci") is None
    executed = out.read_bytes()
    again = runner.execute(src, profile="ci", generated=gen, reuse=True)
    assert again.ok and again.reused and again.seconds == 0.0
    assert out.read_bytes() == executed  # kept as it was

    assert "the profile" in runner.stale(src, out, "default")
    # an output changed or gone: executed again
    rec = records / "demo__tiny.json"
    rec.write_text(rec.read_text() + " ")
    assert "was changed since" in runner.stale(src, out, "ci")
    third = runner.execute(src, profile="ci", generated=gen, reuse=True)
    assert third.ok and not third.reused
    assert runner.stale(src, out, "ci") is None
    (gen / "figures" / "demo_tiny.png").unlink()
    assert "missing" in runner.stale(src, out, "ci")
    # the source edited: executed again
    src.write_text(TINY.replace("1.5", "2.5"))
    assert runner.stale(src, out, "ci") == "changed since it was executed: its source"


def test_a_failed_notebook_is_never_kept(tmp_path, monkeypatch):
    src = _demo(tmp_path, monkeypatch, "broken", BROKEN)
    gen = tmp_path / "book" / "generated"
    assert not runner.execute(src, profile="ci", generated=gen, reuse=True).ok
    assert "no execution key" in runner.stale(src, gen / "notebooks" / "demo" / "broken.ipynb", "ci")
    assert not runner.execute(src, profile="ci", generated=gen, reuse=True).reused


def test_data_stamp_sees_the_data_files_but_not_the_zoo(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "zoo").mkdir(parents=True)
    monkeypatch.setenv("RILIB_DATA", str(data))
    monkeypatch.setenv("RILIB_CACHE", str(data / "zoo"))

    def stamp() -> str:
        monkeypatch.setattr(runner, "_DATA_STAMP", None)
        return runner.data_stamp()

    empty = stamp()
    (data / "zoo" / "model.pt").write_bytes(b"weights")
    assert stamp() == empty  # trained models are keyed results, not data
    (data / "mnist").mkdir()
    (data / "mnist" / "train-images-idx3-ubyte").write_bytes(b"\0" * 16)
    with_mnist = stamp()
    assert with_mnist != empty
    (data / "mnist" / "train-images-idx3-ubyte").write_bytes(b"\1" * 16)  # same size, new content
    assert stamp() != with_mnist
    rewritten = stamp()
    # the same files elsewhere (another checkout, CI) give the same stamp
    shutil.copytree(data, tmp_path / "elsewhere")
    monkeypatch.setenv("RILIB_DATA", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path / "elsewhere" / "zoo"))
    assert stamp() == rewritten
