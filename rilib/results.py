"""Recorded numbers and the claims ledger.

Notebooks record every number their figure or table shows with a :class:`Recorder`: each value is glued into the
executed notebook (myst-nb ``glue``, so pages can cite it) and written to a small JSON record
``<records>/<paper>__<notebook>.json``. The ledger (``book/claims.yaml``) lists every claim of the four papers with a
verdict *rule*: a boolean expression over a notebook's recorded names, e.g. ``tilt_standard > tilt_eps050``.
:func:`write_ledger_page` joins the two into the book's ledger page.

Every claim has a ``kind``: ``empirical`` (the reproduction could come out either way) or ``identity`` (a check that
holds by construction of the quantities — e.g. an inequality that is a triangle inequality for any model — so it can
only fail through a bug; it is not evidence for the paper and is counted apart).

Verdicts (:data:`VERDICTS`): ``reproduced`` (rule true), ``reproduced on substitute`` (rule true, the claim's
``substitute`` is set), ``identity holds`` (rule true, kind ``identity``), ``inconclusive`` (the rule compares a
statistic whose interval straddles its threshold: :class:`rilib.evaluation.Interval` values are compared
three-valued), ``diverges`` (rule false: a result, not a failure to hide), ``not run`` (nothing measures it yet, its
notebook has not been executed, or a value it reads is NaN or missing). Records made at profile ``ci`` are marked as
plumbing only.
"""
from __future__ import annotations

import ast
import json
import math
import operator
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cache import atomic_write
from .evaluation.intervals import Interval

__all__ = [
    "Recorder", "records_dir", "claims_path", "load_claims", "load_records", "evaluate_rule", "ledger_rows",
    "write_ledger_page", "RuleError", "VERDICTS", "KINDS", "rule_names", "verdict_counts", "counts_table",
    "claims_box", "badge", "anchor", "paper_table", "chapter_overview",
]

#: every verdict the ledger gives, in the order the pages list them
VERDICTS = ("reproduced", "reproduced on substitute", "identity holds", "inconclusive", "diverges", "not run")
#: claim kinds: can the check come out either way (empirical), or does it hold by construction (identity)?
KINDS = ("empirical", "identity")

_REPO = Path(__file__).resolve().parents[1]


def records_dir() -> Path:
    """``$RILIB_RECORDS`` or ``book/generated/records`` in the repository."""
    env = os.environ.get("RILIB_RECORDS")
    return Path(env) if env else _REPO / "book" / "generated" / "records"


def claims_path() -> Path:
    return _REPO / "book" / "claims.yaml"


def _plain(v: Any) -> Any:
    """JSON-friendly copy of numbers / arrays / tensors / intervals."""
    if isinstance(v, Interval):
        return {"__interval__": _plain(v.to_dict())}
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # "inf" / "nan": JSON has no literal for them
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


def _unplain(v: Any) -> Any:
    if isinstance(v, str) and v in ("inf", "-inf", "nan"):
        return float(v)
    if isinstance(v, list):
        return [_unplain(x) for x in v]
    if isinstance(v, dict) and set(v) == {"__interval__"}:
        return Interval.from_dict(_unplain(v["__interval__"]))
    if isinstance(v, dict):
        return {k: _unplain(x) for k, x in v.items()}
    return v


class Recorder:
    """Record the numbers a notebook shows.

    >>> rec = Recorder("kim2019/fig3_toy", profile="ci")     # doctest: +SKIP
    >>> rec("tilt_standard", 41.2, fmt="{:.1f}°")           # glues and writes the JSON record
    """

    def __init__(self, notebook: str, *, profile: str, directory: str | os.PathLike | None = None):
        self.notebook = notebook
        self.profile = profile
        self.path = Path(directory or records_dir()) / (notebook.replace("/", "__") + ".json")
        self.values: dict[str, Any] = {}
        self.formats: dict[str, str] = {}
        self._flush()

    def __call__(self, name: str, value: Any, *, fmt: str | None = None, glue: bool = True) -> Any:
        """Record ``value`` (a number, list, or :class:`~rilib.evaluation.Interval`) under ``name``."""
        if not name.isidentifier():
            raise ValueError(f"record name {name!r} must be a Python identifier (rules refer to it)")
        self.values[name] = _unplain(_plain(value))  # plain Python numbers; inf/nan kept as floats
        if fmt:
            self.formats[name] = fmt
        if glue:
            _glue(name, value, fmt)
        self._flush()
        return value

    def show_claims(self) -> None:
        """Display the "Claims on this page" box (:func:`claims_box`) for the numbers recorded so far."""
        from IPython.display import Markdown, display

        commit = os.environ.get("RILIB_BUILD_COMMIT", "unknown")
        rerun = (f"\n*This page: profile `{self.profile}`, rilib commit `{commit}`. Re-run exactly this page at another "
                 f"profile:* `python -m rilib.runner --only {self.notebook} --profile default` (or `ci`, `paper`).\n")
        display(Markdown(claims_box(self.notebook, self.values, self.profile, formats=self.formats) + rerun))

    def _flush(self) -> None:
        payload = {"notebook": self.notebook, "profile": self.profile, "values": _plain(self.values),
                   "formats": self.formats, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write(self.path, json.dumps(payload, indent=1, sort_keys=True))


def _glue(name: str, value: Any, fmt: str | None) -> None:
    try:
        from IPython import get_ipython

        if get_ipython() is None:
            return
        from myst_nb import glue
    except ImportError:  # outside a notebook, or myst-nb absent: the JSON record is enough
        return
    shown = str(value) if isinstance(value, Interval) else value  # "estimate [lo, hi]", never a dataclass repr
    if fmt is not None:
        try:
            shown = fmt.format(value)
        except (ValueError, TypeError):
            shown = value
    glue(name, shown, display=False)


def load_claims(path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The claims ledger; checks required keys and unique ids."""
    import yaml

    p = Path(path or claims_path())
    claims = yaml.safe_load(p.read_text())
    required = {"id", "paper", "artifact", "statement", "paper_value", "measure", "notebook", "rule", "substitute",
                "kind"}
    seen: set[str] = set()
    for i, c in enumerate(claims):
        missing = required - set(c)
        if missing:
            raise ValueError(f"{p}: claim #{i} ({c.get('id')}) lacks {sorted(missing)}")
        if c["id"] in seen:
            raise ValueError(f"{p}: duplicate claim id {c['id']!r}")
        if c["kind"] not in KINDS:
            raise ValueError(f"{p}: claim {c['id']!r} has kind {c['kind']!r}; use one of {', '.join(KINDS)}")
        seen.add(c["id"])
    return claims


def load_records(directory: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """``{notebook: {"profile": …, "values": {…}, "formats": {…}}}`` from every record file."""
    d = Path(directory or records_dir())
    out: dict[str, dict[str, Any]] = {}
    if not d.is_dir():
        return out
    for f in sorted(d.glob("*.json")):
        try:
            rec = json.loads(f.read_text())
            rec["values"] = _unplain(rec.get("values", {}))
            out[rec["notebook"]] = rec
        except (ValueError, KeyError) as e:
            raise ValueError(f"record {f} is not valid JSON ({e}); delete it and re-run its notebook") from e
    return out


class RuleError(ValueError):
    """A verdict rule uses a name or construct that is not allowed or not recorded."""


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow, ast.Mod: operator.mod}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_PYCMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
          "!=": operator.ne}
_SWAP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_FUNCS = {"abs": abs, "min": min, "max": max, "all": all, "any": any, "len": len, "sum": sum}


def _is_nan(v: Any) -> bool:
    return (isinstance(v, float) and math.isnan(v)) or (isinstance(v, Interval) and v.isnan)


def _compare(op: str, a: Any, b: Any) -> bool | None:
    """One comparison; three-valued when an interval takes part (None = the interval straddles)."""
    for v in (a, b):
        if _is_nan(v):
            raise RuleError("a value it compares is NaN")
    if isinstance(a, Interval) and isinstance(b, Interval):
        raise RuleError("a rule compares two intervals; compare an interval with a number")
    if isinstance(a, Interval):
        if op in ("==", "!="):
            raise RuleError("an interval can only be compared with <, <=, >, >=")
        return a.compare(op, b)
    if isinstance(b, Interval):
        return _compare(_SWAP[op], b, a)
    return bool(_PYCMP[op](a, b))


def _and(vals: list[Any]) -> bool | None:
    if any(v is False for v in vals):
        return False
    return None if any(v is None for v in vals) else True


def _or(vals: list[Any]) -> bool | None:
    if any(v is True for v in vals):
        return True
    return None if any(v is None for v in vals) else False


def evaluate_rule(rule: str, values: dict[str, Any]) -> Any:
    """Evaluate a verdict rule over recorded ``values`` with a tiny whitelisted expression evaluator (no ``eval``).

    Allowed: numbers, recorded names, ``+ - * / ** %``, comparisons (chains too), ``and or not``, subscripts
    ``name[i]``, and the functions abs, min, max, all, any, len, sum. A recorded
    :class:`~rilib.evaluation.Interval` may be compared with a number (three-valued: True / False when the whole
    interval is on one side, None when it straddles), negated and passed to ``abs``; ``and`` / ``or`` / ``not``
    follow Kleene's three-valued logic, so the rule's value is True, False or None (inconclusive). A comparison
    with NaN, or a rule reading a name that was not recorded, raises :class:`RuleError`: a NaN never passes.
    """

    def truth(v: Any) -> bool | None:
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, Interval) or _is_nan(v):
            raise RuleError("a rule's condition must be a comparison, not a bare number or interval")
        return bool(v)

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool, str)):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in ("True", "False"):
                return node.id == "True"
            if node.id not in values:
                raise RuleError(f"not recorded: {node.id}")
            return values[node.id]
        if isinstance(node, ast.BoolOp):
            vals = [truth(ev(v)) for v in node.values]
            return _and(vals) if isinstance(node.op, ast.And) else _or(vals)
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            if isinstance(node.op, ast.Not):
                t = truth(v)
                return None if t is None else not t
            if isinstance(node.op, ast.USub):
                return -v
            if isinstance(node.op, ast.UAdd):
                return +v
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = ev(node.left), ev(node.right)
            if isinstance(left, Interval) or isinstance(right, Interval):
                raise RuleError("arithmetic on an interval is not defined in a rule; record the statistic itself")
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.Compare):
            left, result = ev(node.left), True
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp)
                if type(op) not in _CMPOPS:
                    raise RuleError(f"comparison not allowed in a rule: {type(op).__name__}")
                result = _and([result, _compare(_CMPOPS[type(op)], left, right)])
                left = right
            return result
        if isinstance(node, ast.Subscript):
            return ev(node.value)[ev(node.slice)]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS \
                and not node.keywords:
            args = [ev(a) for a in node.args]
            if node.func.id != "abs" and any(isinstance(a, Interval) for a in args):
                raise RuleError(f"{node.func.id}() of intervals is not defined in a rule; record the statistic")
            return _FUNCS[node.func.id](*args)
        if isinstance(node, (ast.List, ast.Tuple)):
            return [ev(e) for e in node.elts]
        raise RuleError(f"construct not allowed in a rule: {ast.dump(node)[:60]}")

    return ev(ast.parse(rule, mode="eval"))


def rule_names(rule: str) -> list[str]:
    """The recorded names a rule reads."""
    names: list[str] = []
    for n in ast.walk(ast.parse(rule, mode="eval")):
        if isinstance(n, ast.Name) and n.id not in _FUNCS and n.id not in names and n.id not in ("True", "False"):
            names.append(n.id)
    return names


def _fmt(v: Any, fmt: str | None) -> str:
    if fmt:
        try:
            return fmt.format(v)
        except (ValueError, TypeError):
            pass
    if isinstance(v, Interval):
        return f"{v:.3g}"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x, None) for x in v[:8]) + (", …" if len(v) > 8 else "") + "]"
    return str(v)


def ledger_rows(claims: list[dict[str, Any]], records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per claim: the claim's fields plus ``ours`` (the values its rule reads), ``verdict``, ``why``
    (for "not run": what is missing), ``profile``."""
    rows = []
    for c in claims:
        row = dict(c, ours="", verdict="not run", why="not built yet", profile="")
        nb, rule = c.get("notebook"), c.get("rule")
        if nb and rule and nb in records:
            rec = records[nb]
            vals, fmts = rec["values"], rec.get("formats", {})
            row["profile"] = rec.get("profile", "")
            row["ours"] = "; ".join(f"{n} = {_fmt(vals[n], fmts.get(n))}" for n in rule_names(rule) if n in vals)
            try:
                ok = evaluate_rule(rule, vals)
            except RuleError as e:
                row["verdict"], row["why"] = "not run", str(e)
            else:
                if ok is None:
                    row["verdict"], row["why"] = "inconclusive", "an interval straddles its threshold"
                elif not isinstance(ok, bool):
                    row["verdict"], row["why"] = "not run", f"the rule gave {ok!r}, not a truth value"
                elif not ok:
                    row["verdict"], row["why"] = "diverges", ""
                elif c["kind"] == "identity":
                    row["verdict"], row["why"] = "identity holds", ""
                else:
                    row["verdict"] = "reproduced on substitute" if c.get("substitute") else "reproduced"
                    row["why"] = ""
        elif nb and rule:
            row["why"] = "notebook not executed"
        rows.append(row)
    return rows


def _cell(s: Any) -> str:
    return str(s if s is not None else "").replace("|", "\\|").replace("\n", " ")


#: sphinx-design badge colour of each verdict
BADGES = {"reproduced": "success", "reproduced on substitute": "success-line", "identity holds": "secondary",
          "inconclusive": "warning", "diverges": "danger", "not run": "light"}


def badge(verdict: str) -> str:
    """The verdict as a coloured MyST badge (sphinx-design ``bdg-*`` role)."""
    return f"{{bdg-{BADGES.get(verdict, 'light')}}}`{verdict}`"


def anchor(claim_id: str) -> str:
    """The label of a claim's entry on the ledger page (for ``{ref}`` links from other pages)."""
    return f"claim-{claim_id}"


def _short(text: str, n: int = 110) -> str:
    return text if len(text) <= n else text[: n - 1].rsplit(";", 1)[0] + "; …"


def _details(r: dict[str, Any]) -> list[str]:
    why = f" ({r['why']})" if r["why"] and r["verdict"] == "not run" else ""
    out = [f"**Verdict.** {badge(r['verdict'])}{why}" + (f" at profile `{r['profile']}`" if r["profile"] else "")
           + f"; kind: *{r['kind']}*.", "", f"**Claim.** {r['statement']}", "", f"**Paper.** {r['paper_value']}", "",
           f"**Ours.** {r['ours'] or '—'}", "", f"**Measure.** {r['measure']}", ""]
    if r.get("rule"):
        out += [f"**Rule** (over the names `{r['notebook']}` records): `{r['rule']}`", ""]
    if r.get("substitute"):
        out += [f"**Substitute.** {r['substitute']}", ""]
    return out


def claims_box(notebook: str, values: dict[str, Any], profile: str, *, formats: dict[str, str] | None = None,
               claims_file: str | os.PathLike | None = None) -> str:
    """Markdown of the "Claims on this page" box of ``notebook``: each claim it measures with its verdict badge,
    statement, the paper's value and ours, computed like the ledger (:func:`ledger_rows`) from ``values``."""
    claims = [c for c in load_claims(claims_file) if c.get("notebook") == notebook]
    rows = ledger_rows(claims, {notebook: {"profile": profile, "values": values, "formats": formats or {}}})
    lines = ["## Claims on this page", "", "| verdict | claim | paper | ours |", "|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join((badge(r["verdict"]), f"{{ref}}`{r['id']} <{anchor(r['id'])}>`: "
                                        + _cell(r["statement"]), _cell(r["paper_value"]), _cell(r["ours"] or "—")))
                     + " |")
    if not rows:
        lines.append("| — | no claim of the ledger is measured here | | |")
    return "\n".join(lines) + "\n"


def verdict_counts(rows: list[dict[str, Any]]) -> dict[str, Counter]:
    """Verdict counts per claim kind: ``{"empirical": Counter, "identity": Counter}``."""
    out = {k: Counter() for k in KINDS}
    for r in rows:
        out[r["kind"]][r["verdict"]] += 1
    return out


def counts_table(counts: dict[str, Counter]) -> list[str]:
    """Markdown lines: one row per verdict, a column per kind (identity checks counted apart)."""
    lines = ["| verdict | empirical claims | identity checks |", "|---|---|---|"]
    for v in VERDICTS:
        e, i = counts["empirical"].get(v, 0), counts["identity"].get(v, 0)
        if e or i:
            lines.append(f"| {v} | {e or ''} | {i or ''} |")
    lines.append(f"| **total** | {sum(counts['empirical'].values())} | {sum(counts['identity'].values())} |")
    return lines


def paper_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: one row per paper with its verdict counts in one cell (narrow enough for any window)."""
    lines = ["| paper | verdicts | claims |", "|---|---|---|"]
    for paper in dict.fromkeys(r["paper"] for r in rows):
        c = Counter(r["verdict"] for r in rows if r["paper"] == paper)
        lines.append(f"| {paper} | " + " · ".join(f"{c[v]} {v}" for v in VERDICTS if c.get(v))
                     + f" | {sum(c.values())} |")
    return lines


def write_ledger_page(path: str | os.PathLike, *, claims_file: str | os.PathLike | None = None,
                      records: str | os.PathLike | None = None,
                      draw: Callable[[list[dict[str, Any]], Path], Any] | None = None) -> dict[str, Counter]:
    """Write the ledger page (MyST markdown) and return the verdict counts per kind (:func:`verdict_counts`).
    ``draw(rows, png)`` draws the page's verdicts-per-paper figure (the runner passes
    :func:`rilib.plotting.verdict_overview`; this module stays below the plotting one)."""
    claims = load_claims(claims_file)
    rows = ledger_rows(claims, load_records(records))
    counts = verdict_counts(rows)
    profiles = sorted({r["profile"] for r in rows if r["profile"]})
    lines = [
        "# Claims ledger", "",
        "Every quantitative or qualitative claim of the four papers, with the paper's value, ours, and a verdict "
        "computed from the numbers the notebooks recorded (rule in `book/claims.yaml`, decided before the run). "
        "Statistics that rest on a few models or points carry a 95 % bootstrap interval over the evaluation points "
        "(shown as `estimate [lower, upper]`): a claim is *reproduced* only when the whole interval is on the "
        "paper's side of the rule's threshold, *inconclusive* when it straddles it, and *diverges* when it is on "
        "the other side — a result, not a failure to hide. *Identity checks* hold by construction of the "
        "quantities (e.g. an inequality that is a triangle inequality for any model); they can only fail through a "
        "bug, are not evidence for the paper, and are counted apart.", "",
        f"Profiles of the recorded numbers: {', '.join(profiles) if profiles else 'none yet'}."
        + (" **Numbers from profile `ci` are plumbing checks at tiny scale, not evidence.**" if "ci" in profiles
           else ""), "",
        *counts_table(counts), "",
        "![Verdicts per paper](figures/verdicts_by_paper.png)", "",
        *paper_table(rows), "",
    ]
    for paper in dict.fromkeys(r["paper"] for r in rows):
        mine = [r for r in rows if r["paper"] == paper]
        lines += [f"## {paper}", "", "| verdict | claim | ours |", "|---|---|---|"]
        for r in mine:
            lines.append("| " + " | ".join((badge(r["verdict"]), f"{{ref}}`{r['id']} <{anchor(r['id'])}>` · "
                                            + _cell(r["artifact"]), _cell(_short(r["ours"]) or "—"))) + " |")
        lines.append("")
        for r in mine:
            lines += [f"({anchor(r['id'])})=", f":::{{dropdown}} {r['id']} · {r['artifact']} · {r['verdict']}",
                      *_details(r), ":::", ""]
        atomic_write(Path(path), "\n".join(lines))
    profile_note = f" (profile {', '.join(profiles)})" if profiles else ""
    atomic_write(Path(path).with_name("ledger_counts.md"), "\n".join([
        f"Verdicts of the {len(rows)} claims{profile_note}:", "", *counts_table(counts), "",
        "![Verdicts per paper](figures/verdicts_by_paper.png)", "", *paper_table(rows), ""]))
    if draw is not None:
        draw(rows, Path(path).parent / "figures" / "verdicts_by_paper.png")
    return counts


def page_card(page: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """MyST lines of one artifact page's card on its chapter page (:func:`chapter_overview`)."""
    mine = [r for r in rows if r.get("notebook") == page["notebook"]]
    c = Counter(r["verdict"] for r in mine)
    tokens = [t.strip() for r in mine for t in re.split(r"[,;]", r["artifact"]) if t.strip()]
    artifacts = list(dict.fromkeys(tokens))
    if len(artifacts) > 5:
        artifacts = [*artifacts[:5], "…"]
    status = page.get("status", "")
    lines = [f":::{{grid-item-card}} {page['title']}", f":link: {page['doc']}", ":link-type: doc"]
    if page.get("thumbnail"):
        lines.append(f":img-top: {page['thumbnail']}")
    lines += ["", f"**Status:** {status}" + (f" · {', '.join(artifacts)}" if artifacts else ""), ""]
    if mine:
        lines.append(" ".join(f"{badge(v)} × {c[v]}" for v in VERDICTS if c.get(v)))
    else:
        lines.append("no ledger claim is measured on this page")
    return [*lines, ":::", ""]


def chapter_overview(pages: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """Markdown of a chapter's artifact pages as a grid of cards: title, thumbnail of the page's first figure,
    status (profile it was executed at, or not executed) and the verdicts of the ledger claims it measures.

    ``pages``: dicts with ``notebook`` ("<paper>/<name>"), ``title``, ``doc`` (the page, as a document path relative
    to the chapter page), ``thumbnail`` (image path relative to the chapter page, or None) and ``status``.
    """
    lines = ["::::{grid} 1 2 2 3", ":gutter: 2", ""]
    for p in pages:
        lines += page_card(p, rows)
    return "\n".join([*lines, "::::", ""])
