"""Recorded numbers and the claims ledger.

Notebooks record every number their figure or table shows with a :class:`Recorder`: each value is glued into the
executed notebook (myst-nb ``glue``, so pages can cite it) and written to a small JSON record
``<records>/<paper>__<notebook>.json``. The ledger (``book/claims.yaml``) lists every claim of the four papers with a
verdict *rule*: a boolean expression over a notebook's recorded names, e.g. ``tilt_standard > tilt_eps050``.
:func:`write_ledger_page` joins the two into the book's ledger page.

Verdicts: ``reproduced`` (rule true), ``reproduced on substitute`` (rule true, the claim's ``substitute`` is set),
``diverges`` (rule false: a result, not a failure to hide), ``not run`` (nothing measures it yet, or its notebook
has not been executed). Records made at profile ``ci`` are marked as plumbing only.
"""
from __future__ import annotations

import ast
import json
import math
import operator
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = [
    "Recorder", "records_dir", "claims_path", "load_claims", "load_records", "evaluate_rule", "ledger_rows",
    "write_ledger_page", "RuleError",
]

_REPO = Path(__file__).resolve().parents[1]


def records_dir() -> Path:
    """``$RILIB_RECORDS`` or ``book/generated/records`` in the repository."""
    env = os.environ.get("RILIB_RECORDS")
    return Path(env) if env else _REPO / "book" / "generated" / "records"


def claims_path() -> Path:
    return _REPO / "book" / "claims.yaml"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plain(v: Any) -> Any:
    """JSON-friendly copy of numbers / arrays / tensors."""
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
    if v in ("inf", "-inf", "nan"):
        return float(v)
    if isinstance(v, list):
        return [_unplain(x) for x in v]
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
        if not name.isidentifier():
            raise ValueError(f"record name {name!r} must be a Python identifier (rules refer to it)")
        self.values[name] = _unplain(_plain(value))  # plain Python numbers; inf/nan kept as floats
        if fmt:
            self.formats[name] = fmt
        if glue:
            _glue(name, value, fmt)
        self._flush()
        return value

    def _flush(self) -> None:
        payload = {"notebook": self.notebook, "profile": self.profile, "values": _plain(self.values),
                   "formats": self.formats, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _atomic_write(self.path, json.dumps(payload, indent=1, sort_keys=True))


def _glue(name: str, value: Any, fmt: str | None) -> None:
    try:
        from IPython import get_ipython

        if get_ipython() is None:
            return
        from myst_nb import glue
    except ImportError:  # outside a notebook, or myst-nb absent: the JSON record is enough
        return
    shown = value
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
    required = {"id", "paper", "artifact", "statement", "paper_value", "measure", "notebook", "rule", "substitute"}
    seen: set[str] = set()
    for i, c in enumerate(claims):
        missing = required - set(c)
        if missing:
            raise ValueError(f"{p}: claim #{i} ({c.get('id')}) lacks {sorted(missing)}")
        if c["id"] in seen:
            raise ValueError(f"{p}: duplicate claim id {c['id']!r}")
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
_CMPOPS = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
           ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCS = {"abs": abs, "min": min, "max": max, "all": all, "any": any, "len": len, "sum": sum}


def evaluate_rule(rule: str, values: dict[str, Any]) -> Any:
    """Evaluate a verdict rule over recorded ``values`` with a tiny whitelisted expression evaluator (no ``eval``).

    Allowed: numbers, recorded names, ``+ - * / ** %``, comparisons (chains too), ``and or not``, subscripts
    ``name[i]``, and the functions abs, min, max, all, any, len, sum.
    """

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
            vals = [ev(v) for v in node.values]
            return all(vals) if isinstance(node.op, ast.And) else any(vals)
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            if isinstance(node.op, ast.Not):
                return not v
            if isinstance(node.op, ast.USub):
                return -v
            if isinstance(node.op, ast.UAdd):
                return +v
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp)
                if type(op) not in _CMPOPS or not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Subscript):
            return ev(node.value)[ev(node.slice)]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS \
                and not node.keywords:
            return _FUNCS[node.func.id](*[ev(a) for a in node.args])
        if isinstance(node, (ast.List, ast.Tuple)):
            return [ev(e) for e in node.elts]
        raise RuleError(f"construct not allowed in a rule: {ast.dump(node)[:60]}")

    return ev(ast.parse(rule, mode="eval"))


def _rule_names(rule: str) -> list[str]:
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
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x, None) for x in v[:8]) + (", …" if len(v) > 8 else "") + "]"
    return str(v)


def ledger_rows(claims: list[dict[str, Any]], records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per claim: the claim's fields plus ``ours`` (the values its rule reads), ``verdict``, ``profile``."""
    rows = []
    for c in claims:
        row = dict(c, ours="", verdict="not run", profile="")
        nb, rule = c.get("notebook"), c.get("rule")
        if nb and rule and nb in records:
            rec = records[nb]
            vals, fmts = rec["values"], rec.get("formats", {})
            row["profile"] = rec.get("profile", "")
            row["ours"] = "; ".join(f"{n} = {_fmt(vals[n], fmts.get(n))}" for n in _rule_names(rule) if n in vals)
            try:
                ok = bool(evaluate_rule(rule, vals))
                row["verdict"] = ("reproduced on substitute" if c.get("substitute") else "reproduced") if ok \
                    else "diverges"
            except RuleError as e:
                row["verdict"] = f"not run ({e})"
        elif nb and rule:
            row["verdict"] = "not run (notebook not executed)"
        rows.append(row)
    return rows


def _cell(s: Any) -> str:
    return str(s if s is not None else "").replace("|", "\\|").replace("\n", " ")


def write_ledger_page(path: str | os.PathLike, *, claims_file: str | os.PathLike | None = None,
                      records: str | os.PathLike | None = None) -> Counter:
    """Write the ledger page (MyST markdown) and return the verdict counts."""
    claims = load_claims(claims_file)
    rows = ledger_rows(claims, load_records(records))
    counts = Counter(r["verdict"].split(" (")[0] for r in rows)
    profiles = sorted({r["profile"] for r in rows if r["profile"]})
    lines = [
        "# Claims ledger", "",
        "Every quantitative or qualitative claim of the four papers, with the paper's value, ours, and a verdict "
        "computed from the numbers the notebooks recorded (rule in `book/claims.yaml`). *diverges* is a result: "
        "the reproduction measured something else than the paper reports.", "",
        f"Profiles of the recorded numbers: {', '.join(profiles) if profiles else 'none yet'}."
        + (" **Numbers from profile `ci` are plumbing checks at tiny scale, not evidence.**" if "ci" in profiles
           else ""), "",
        "| verdict | claims |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(counts.items())], f"| **total** | {len(rows)} |", "",
    ]
    for paper in dict.fromkeys(r["paper"] for r in rows):
        lines += [f"## {paper}", "", "| id | artifact | claim | paper | ours | verdict |", "|---|---|---|---|---|---|"]
        for r in (r for r in rows if r["paper"] == paper):
            verdict = r["verdict"] + (f" (profile {r['profile']})" if r["profile"] else "")
            if r.get("substitute") and r["profile"]:
                verdict += f"; substitute: {r['substitute']}"
            lines.append("| " + " | ".join(_cell(x) for x in (
                f"`{r['id']}`", r["artifact"], r["statement"], r["paper_value"], r["ours"] or "—", verdict)) + " |")
        lines.append("")
    _atomic_write(Path(path), "\n".join(lines))
    return counts
