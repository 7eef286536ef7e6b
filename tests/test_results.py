"""Records, verdict rules and the claims ledger; profiles; the table of contents."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from rilib import profiles, results, runner

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


def test_ledger_verdicts(tmp_path):
    claims = [
        dict(id="p-a", paper="p", artifact="Fig 1", statement="s", paper_value="v", measure="m", notebook="p/nb",
             rule="x > 1", substitute=None),
        dict(id="p-b", paper="p", artifact="Fig 1", statement="s", paper_value="v", measure="m", notebook="p/nb",
             rule="x > 2", substitute=None),
        dict(id="p-c", paper="p", artifact="Fig 2", statement="s", paper_value="v", measure="m", notebook="p/nb",
             rule="x > 1", substitute="Fashion-MNIST"),
        dict(id="p-d", paper="p", artifact="Fig 3", statement="s", paper_value="v", measure="m", notebook=None,
             rule=None, substitute=None),
        dict(id="p-e", paper="p", artifact="Fig 3", statement="s", paper_value="v", measure="m", notebook="p/other",
             rule="y > 0", substitute=None),
        dict(id="p-f", paper="p", artifact="Fig 3", statement="s", paper_value="v", measure="m", notebook="p/nb",
             rule="zz > 0", substitute=None),
    ]
    cf = tmp_path / "claims.yaml"
    cf.write_text(yaml.safe_dump(claims))
    rec = results.Recorder("p/nb", profile="default", directory=tmp_path / "rec")
    rec("x", 1.5)
    page = tmp_path / "ledger.md"
    counts = results.write_ledger_page(page, claims_file=cf, records=tmp_path / "rec")
    rows = {r["id"]: r["verdict"] for r in results.ledger_rows(results.load_claims(cf),
                                                                  results.load_records(tmp_path / "rec"))}
    assert rows == {"p-a": "reproduced", "p-b": "diverges", "p-c": "reproduced on substitute", "p-d": "not run",
                    "p-e": "not run (notebook not executed)", "p-f": "not run (not recorded: zz)"}
    assert counts["not run"] == 3 and counts["diverges"] == 1
    text = page.read_text()
    assert "x = 1.5" in text and "| **total** | 6 |" in text


def test_duplicate_claim_ids_are_refused(tmp_path):
    c = dict(id="a", paper="p", artifact="", statement="", paper_value="", measure="", notebook=None, rule=None,
             substitute=None)
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
            results._rule_names(c["rule"])  # parses
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
            if isinstance(v, int) and not isinstance(v, bool):
                assert v <= d, f"{sec}.{key}"
