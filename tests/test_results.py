"""Records, verdict rules and the claims ledger; profiles; the table of contents."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from rilib import profiles, results, runner
from rilib.evaluation import Interval

REPO = Path(__file__).resolve().parents[1]


def test_rule_evaluator_arithmetic_and_chains():
    v = {"a": 3.0, "b": 2.0, "c": 1.0, "xs": [1, 2, 3], "inf_val": math.inf}
    assert results.evaluate_rule("a > b > c", v) is True
    assert results.evaluate_rule("a > c > b", v) is False
    assert results.evaluate_rule("abs(b - a) < 1.5 and max(xs) == 3 and len(xs) == 3", v) is True
    assert results.evaluate_rule("not (a < b) or c", v) is True
    assert results.evaluate_rule("xs[0] + 2 * b", v) == 5
    assert results.evaluate_rule("inf_val > 1e300", v) is True


@pytest.mark.parametrize("rule", ["__import__('os').system('true')", "a.__class__", "(lambda: 1)()",
                                  "[x for x in xs]", "open('f')"])
def test_rule_evaluator_refuses_code(rule):
    with pytest.raises(results.RuleError):
        results.evaluate_rule(rule, {"a": 1, "xs": [1]})


def test_rule_with_unrecorded_name_is_reported():
    with pytest.raises(results.RuleError, match="not recorded: missing"):
        results.evaluate_rule("missing > 1", {})


def test_recorder_writes_json_atomically_and_keeps_floats(tmp_path):
    rec = results.Recorder("paper/nb", profile="ci", directory=tmp_path)
    rec("x", 1.5, fmt="{:.1f}")
    rec("far", float("inf"))
    rec("arr", [1, 2])
    data = json.loads((tmp_path / "paper__nb.json").read_text())
    assert data["profile"] == "ci" and data["values"]["x"] == 1.5 and data["values"]["far"] == "inf"
    assert rec.values["far"] == math.inf  # usable in the notebook as a float
    loaded = results.load_records(tmp_path)
    assert loaded["paper/nb"]["values"]["far"] == math.inf
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    with pytest.raises(ValueError, match="identifier"):
        rec("not valid", 1)


def _claim(id, rule, *, notebook="p/nb", kind="empirical", substitute=None):
    return dict(id=id, paper="p", artifact="Fig 1", statement="s", paper_value="v", measure="m", notebook=notebook,
                rule=rule, substitute=substitute, kind=kind)


def test_ledger_verdicts(tmp_path):
    claims = [
        _claim("p-a", "x > 1"), _claim("p-b", "x > 2"), _claim("p-c", "x > 1", substitute="Fashion-MNIST"),
        _claim("p-d", None, notebook=None), _claim("p-e", "y > 0", notebook="p/other"), _claim("p-f", "zz > 0"),
        _claim("p-g", "x > 1", kind="identity"), _claim("p-h", "x > 2", kind="identity"),
        _claim("p-i", "iv > 0"), _claim("p-j", "iv > 0.5"), _claim("p-k", "iv > 2"), _claim("p-l", "nan_val < 1"),
        _claim("p-m", "iv > 0.5 and x > 2"),
    ]
    cf = tmp_path / "claims.yaml"
    cf.write_text(yaml.safe_dump(claims))
    rec = results.Recorder("p/nb", profile="default", directory=tmp_path / "rec")
    rec("x", 1.5)
    rec("iv", Interval(1.0, 0.2, 1.8))
    rec("nan_val", float("nan"))
    page = tmp_path / "ledger.md"
    counts = results.write_ledger_page(page, claims_file=cf, records=tmp_path / "rec")
    rows = {r["id"]: (r["verdict"], r["why"]) for r in results.ledger_rows(results.load_claims(cf),
                                                                           results.load_records(tmp_path / "rec"))}
    assert {k: v[0] for k, v in rows.items()} == {
        "p-a": "reproduced", "p-b": "diverges", "p-c": "reproduced on substitute", "p-d": "not run",
        "p-e": "not run", "p-f": "not run", "p-g": "identity holds", "p-h": "diverges", "p-i": "reproduced",
        "p-j": "inconclusive", "p-k": "diverges", "p-l": "not run", "p-m": "diverges"}
    assert rows["p-e"][1] == "notebook not executed" and rows["p-f"][1] == "not recorded: zz"
    assert "NaN" in rows["p-l"][1]
    assert counts["empirical"]["not run"] == 4 and counts["empirical"]["diverges"] == 3
    assert counts["identity"] == {"identity holds": 1, "diverges": 1}
    text = page.read_text()
    assert "x = 1.5" in text and "| **total** | 11 | 2 |" in text and "iv = 1 [0.2, 1.8]" in text
    assert "| identity holds |  | 1 |" in text and "| inconclusive | 1 |  |" in text


def test_intervals_compare_three_valued():
    iv = Interval(1.0, 0.2, 1.8)
    assert results.evaluate_rule("iv > 0", {"iv": iv}) is True
    assert results.evaluate_rule("iv > 0.5", {"iv": iv}) is None
    assert results.evaluate_rule("iv > 1.8 or iv < 0.2", {"iv": iv}) is False
    assert results.evaluate_rule("0 < iv < 2", {"iv": iv}) is True
    assert results.evaluate_rule("not iv > 0.5", {"iv": iv}) is None
    assert results.evaluate_rule("iv > 0.5 or 1 < 2", {"iv": iv}) is True  # Kleene: unknown or true = true
    assert results.evaluate_rule("iv > 0.5 and 1 > 2", {"iv": iv}) is False
    assert results.evaluate_rule("abs(-iv) < 2", {"iv": iv}) is True
    assert results.evaluate_rule("abs(straddle) < 0.5", {"straddle": Interval(0.0, -0.6, 0.1)}) is None
    assert results.evaluate_rule("abs(straddle) < 0.7", {"straddle": Interval(0.0, -0.6, 0.1)}) is True
    for bad in ("iv + 1 > 0", "iv == 1", "min(iv, iv) > 0", "iv and 1 > 0"):
        with pytest.raises(results.RuleError):
            results.evaluate_rule(bad, {"iv": iv})


def test_recorded_interval_round_trips(tmp_path):
    rec = results.Recorder("p/nb", profile="ci", directory=tmp_path)
    rec("iv", Interval(0.5, 0.25, float("inf")), fmt="{:.2f}")
    got = results.load_records(tmp_path)["p/nb"]["values"]["iv"]
    assert got == Interval(0.5, 0.25, float("inf"))


def test_nan_or_missing_value_never_passes_any_rule_of_the_ledger():
    """Walk every rule of book/claims.yaml: with any one name it reads missing or NaN (the others set to values
    that make every comparison true where possible), the rule cannot give a verdict."""
    for c in results.load_claims():
        if not c["rule"]:
            continue
        names = results.rule_names(c["rule"])
        assert names, c["id"]
        for victim in names:
            vals = {n: 0.5 for n in names}
            vals[victim] = float("nan")
            with pytest.raises(results.RuleError):
                results.evaluate_rule(c["rule"], vals)
            del vals[victim]
            with pytest.raises(results.RuleError, match="not recorded"):
                results.evaluate_rule(c["rule"], vals)
            vals[victim] = Interval(float("nan"), float("nan"), float("nan"))
            with pytest.raises(results.RuleError):
                results.evaluate_rule(c["rule"], vals)


def test_claims_have_a_kind_and_identity_checks_say_so():
    claims = results.load_claims()
    assert {c["kind"] for c in claims} <= set(results.KINDS)
    for c in claims:
        if c["kind"] == "identity":
            assert c["measure"].startswith("Identity check") or "Identity check" in c["measure"], c["id"]
    bad = dict(_claim("x", None), kind="proof")
    with pytest.raises(ValueError, match="kind"):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "c.yaml").write_text(yaml.safe_dump([bad]))
            results.load_claims(Path(d) / "c.yaml")


def test_duplicate_claim_ids_are_refused(tmp_path):
    c = _claim("a", None, notebook=None)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump([c, c]))
    with pytest.raises(ValueError, match="duplicate"):
        results.load_claims(tmp_path / "c.yaml")


def test_book_claims_file_is_consistent():
    claims = results.load_claims()
    papers = {c["paper"] for c in claims}
    assert papers == {"etmann2019", "kim2019", "noack2021", "wang2022"}
    notebooks = {f"{p.parent.name}/{p.stem}" for p in runner.discover()}
    for c in claims:
        if c["rule"]:
            assert c["notebook"] in notebooks, f"{c['id']}: notebook {c['notebook']} does not exist"
            results.rule_names(c["rule"])  # parses
    assert any(c["rule"] for c in claims)


def test_every_notebook_is_in_the_toc_and_has_a_parameters_cell():
    toc = (REPO / "_toc.yml").read_text()
    for src in runner.discover():
        assert f"book/generated/notebooks/{src.parent.name}/{src.stem}" in toc, src
        text = src.read_text()
        assert 'tags=["parameters"]' in text and 'profile = "default"' in text, src
        assert "format_name: percent" in text


def test_profiles_table_is_complete():
    for name in profiles.PROFILE_NAMES:
        p = profiles.get(name)
        assert p.name == name and set(p) == set(profiles.PROFILES["default"])
        assert p.kim_toy.epochs == profiles.PROFILES[name]["kim_toy"]["epochs"]
    with pytest.raises(ValueError, match="unknown profile"):
        profiles.get("huge")
    md = profiles.table_markdown("kim_toy", highlight="ci")
    assert "`kim_toy.epochs`" in md and "**ci**" in md
    # counts (models, epochs, points, steps) at ci are never larger than at default
    for sec, rows in profiles.PROFILES["ci"].items():
        for key, v in rows.items():
            d = profiles.PROFILES["default"][sec][key]
            if d is None:  # None = all (e.g. every other class): no bound
                continue
            if isinstance(v, int) and not isinstance(v, bool):
                assert v <= d, f"{sec}.{key}"


def test_paper_table_and_claims_box_agree_with_the_ledger_rows(tmp_path):
    claims = [_claim("p-a", "x > 1"), _claim("p-b", "x > 2"), _claim("p-g", "x > 1", kind="identity"),
              dict(_claim("q-a", "x > 1", notebook="q/nb"), paper="q")]
    cf = tmp_path / "claims.yaml"
    cf.write_text(yaml.safe_dump(claims))
    recs = {"p/nb": {"profile": "default", "values": {"x": 1.5}, "formats": {}}}
    rows = results.ledger_rows(results.load_claims(cf), recs)
    table = results.paper_table(rows)
    assert table[2] == "| p | 1 reproduced · 1 identity holds · 1 diverges | 3 |"
    assert table[3] == "| q | 1 not run | 1 |"
    box = results.claims_box("p/nb", {"x": 1.5}, "default", claims_file=cf)
    assert box.count("\n| ") == 4  # header, rule and three claims
    assert "{bdg-success}`reproduced`" in box and "{bdg-danger}`diverges`" in box and "claim-p-g" in box


def test_notebook_sources_are_paired_for_jupyterlab_and_round_trip():
    """`make lab` opens each .py as a notebook paired with a git-ignored .ipynb; saving from the notebook view must
    give back the same .py (so editing in JupyterLab does not rewrite the sources)."""
    import jupytext
    from jupytext.config import find_jupytext_configuration_file, load_jupytext_configuration_file

    cfg = load_jupytext_configuration_file(find_jupytext_configuration_file(str(REPO / "notebooks" / "kim2019")))
    assert {f for entry in cfg.formats for f in entry.split(",")} == {"ipynb", "py:percent"}
    assert "notebooks/**/*.ipynb" in (REPO / ".gitignore").read_text()
    for src in runner.discover():
        text = src.read_text()
        assert jupytext.writes(jupytext.reads(text, fmt="py:percent"), fmt="py:percent", config=cfg) == text, src


def test_chapter_overview_cards_show_each_page_with_its_verdicts():
    rows = [{"notebook": "p/a", "artifact": "Fig 1; Fig 2", "verdict": "reproduced"},
            {"notebook": "p/a", "artifact": "Fig 2", "verdict": "diverges"},
            {"notebook": "p/b", "artifact": "Table 1", "verdict": "not run"}]
    pages = [{"notebook": "p/a", "title": "Page A", "doc": "generated/notebooks/p/a", "thumbnail": "t/a.png",
              "status": "executed at profile `ci`"},
             {"notebook": "p/c", "title": "Page C", "doc": "generated/notebooks/p/c", "thumbnail": None,
              "status": "not executed"}]
    md = results.chapter_overview(pages, rows)
    card_a, card_c = md.split(":::{grid-item-card}")[1:]
    assert "Page A" in card_a and ":link: generated/notebooks/p/a" in card_a and ":img-top: t/a.png" in card_a
    assert "Fig 1, Fig 2" in card_a  # artifacts named once each
    assert f"{results.badge('reproduced')} × 1" in card_a and f"{results.badge('diverges')} × 1" in card_a
    assert "Page C" in card_c and ":img-top:" not in card_c and "no ledger claim" in card_c
    assert md.startswith("::::{grid}") and md.rstrip().endswith("::::")
