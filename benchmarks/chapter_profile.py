"""Where a chapter's time goes, from a build that already ran (``make book`` or ``python -m rilib.runner``).

Reads, for each executed notebook of the chosen chapters,

* its cells' durations (papermill's metadata in ``book/generated/notebooks/<paper>/<name>.ipynb``): each cell is
  *setup* (the imports cell), *compute* (it calls into the chapter's jobs, trains, attacks or attributes: read from its source),
  *figures* (it only draws) or *other* (loads, tables, records);
* its progress log (``book/generated/logs/<paper>/<name>.log``, kept by the runner): every finished job's own time
  by kind (``train``, ``etmann measure``, ``Wang: searches, attributions …``), summed over the worker processes;

and prints, per chapter, the wall time of each notebook and the job time per kind (on 2 workers the job times add
up to about twice the wall time of the cells that ran them). With ``--out`` the rows go to JSON for the book's
Performance page (``benchmarks/results/``).

Usage::

    .venv/bin/python benchmarks/chapter_profile.py [--root .] [--only etmann2019 kim2019] [--out FILE] [--label cold]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: a progress line of a finished job: "<desc>: <k>/<n> done (<label>) in <duration>, …" (map_jobs) or
#: "<desc>: <k> done (<label>) in <duration>, …" (run_plan)
JOB = re.compile(r"^(?P<desc>.+?): (?P<k>\d+)(?:/\d+)? done \((?P<label>.*)\) in (?P<took>[0-9.hms]+),")
DRAWS = re.compile(r"\b(plt\.|plotting\.|sns\.|\.imshow\(|\.plot\(|fig, ax|subplots\()")
COMPUTES = re.compile(r"\b(prepare|measured_cohort|cohort\(|prefetch|zoo\.get|build\(|attack|attribute|maps\(|"
                      r"evaluate|run_plan|map_jobs|retrain|search|train|fit\()")


def seconds(text: str) -> float:
    """``"1h02m"`` / ``"3m05s"`` / ``"42s"`` / ``"0.4s"`` → seconds (:func:`rilib.parallel.duration`, and a job's
    own time in tenths below a minute)."""
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)([hms])", text):
        total += float(value) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def _code_lines(src: str) -> list[str]:
    """The cell's lines without blank and comment-only lines, stripped."""
    return [ln.strip() for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def cell_kind(src: str) -> str:
    """``setup``, ``compute``, ``figures`` or ``other`` (see the module docstring). A cell that starts with the
    imports is *setup* unless the code after its imports computes (a page that prepares its jobs in its first cell)."""
    code = _code_lines(src)
    if code and code[0].startswith(("import ", "from ")):
        rest = "\n".join(ln for ln in code if not ln.startswith(("import ", "from ")))
        return "compute" if COMPUTES.search(rest) else "setup"  # setup: the imports; also the header, the recorder
    return "compute" if COMPUTES.search(src) else ("figures" if DRAWS.search(src) else "other")


def cells(nb_path: Path) -> list[dict]:
    nb = json.loads(nb_path.read_text())
    out = []
    for c in nb["cells"]:
        if c.get("cell_type") != "code":
            continue
        src = "".join(c.get("source", ""))
        if "parameters" in c.get("metadata", {}).get("tags", []) or "injected-parameters" in c.get("metadata", {}).get(
                "tags", []):
            continue
        d = float(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0)
        first = next(iter(_code_lines(src)), "")
        out.append({"seconds": d, "kind": cell_kind(src), "first_line": first[:80]})
    return out


def jobs(log_path: Path) -> dict[str, dict]:
    if not log_path.is_file():
        return {}
    return job_times(line.partition("\t")[2] for line in log_path.read_text().splitlines())


def job_times(texts) -> dict[str, dict]:
    """Job time by kind from progress messages (one finished job per matching message)."""
    by: dict[str, dict] = defaultdict(lambda: {"n": 0, "seconds": 0.0, "max": 0.0})
    for text in texts:
        m = JOB.match(text)
        if m:
            desc = re.sub(r" \((ci|default|paper)\)$", "", m["desc"])
            t = seconds(m["took"])
            b = by[desc]
            b["n"] += 1
            b["seconds"] += t
            b["max"] = max(b["max"], t)
    return dict(by)


def profile(root: Path, only: list[str] | None) -> list[dict]:
    gen = root / "book" / "generated"
    rows = []
    for nb_path in sorted((gen / "notebooks").glob("*/*.ipynb")):
        paper, name = nb_path.parent.name, nb_path.stem
        if only and not any(o in f"{paper}/{name}" for o in only):
            continue
        cs = cells(nb_path)
        if not cs or not any(c["seconds"] for c in cs):
            continue
        kinds = defaultdict(float)
        for c in cs:
            kinds[c["kind"]] += c["seconds"]
        top = max(cs, key=lambda c: c["seconds"])
        try:
            prof = json.loads((gen / "records" / f"{paper}__{name}.json").read_text()).get("profile")
        except (OSError, ValueError):
            prof = None
        rows.append({"chapter": paper, "notebook": name, "profile": prof,
                     "seconds": round(sum(c["seconds"] for c in cs), 1),
                     "cells": {k: round(v, 1) for k, v in kinds.items()},
                     "slowest_cell": {"seconds": round(top["seconds"], 1), "first_line": top["first_line"]},
                     "jobs": {k: {"n": v["n"], "seconds": round(v["seconds"], 1), "max": round(v["max"], 1)}
                              for k, v in jobs(gen / "logs" / paper / f"{name}.log").items()}})
    return rows


RUN_OK = re.compile(r"^\[\d+/\d+\] (?P<nb>[\w-]+/[\w-]+): ok in (?P<took>[0-9hms]+)")
RUN_KEPT = re.compile(r"^\[\d+/\d+\] (?P<nb>[\w-]+/[\w-]+): up to date \(")
RUN_LINE = re.compile(r"^\s*\[\s*[0-9hms]+\] (?P<nb>[\w-]+/[\w-]+): (?P<text>.*)$")
RUN_PROFILE = re.compile(r"^executing \d+ notebooks at profile '(?P<profile>\w+)'")


def from_runner_output(path: Path, only: list[str] | None) -> list[dict]:
    """The same rows from a build's terminal output alone (``make book > build.log``), for a build whose executed
    notebooks are gone (e.g. overwritten by a later build): each notebook's wall time as the runner printed it and
    its job time by kind; no split by cells. A notebook the runner kept (its executed copy up to date) counts 0 s,
    marked ``kept``."""
    texts: dict[str, list[str]] = defaultdict(list)
    wall: dict[str, float] = {}
    kept: set[str] = set()
    prof = None
    for line in path.read_text(errors="replace").splitlines():
        if (m := RUN_PROFILE.match(line)):
            prof = m["profile"]
        elif (m := RUN_OK.match(line)):
            wall[m["nb"]] = seconds(m["took"])
        elif (m := RUN_KEPT.match(line)):
            wall[m["nb"]] = 0.0
            kept.add(m["nb"])
        elif (m := RUN_LINE.match(line)):
            texts[m["nb"]].append(m["text"])
    rows = []
    for nb, sec in wall.items():
        if only and not any(o in nb for o in only):
            continue
        paper, name = nb.split("/", 1)
        rows.append({"chapter": paper, "notebook": name, "profile": prof, "seconds": sec, "cells": {},
                     "slowest_cell": {}, "jobs": {k: {"n": v["n"], "seconds": round(v["seconds"], 1),
                                                      "max": round(v["max"], 1)}
                                                  for k, v in job_times(texts[nb]).items()},
                     **({"kept": True} if nb in kept else {})})
    return rows


def main() -> None:
    from hotspots import write_results

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=HERE.parent, help="the checkout whose book/generated to read")
    ap.add_argument("--only", nargs="*", help="substrings of '<paper>/<notebook>'")
    ap.add_argument("--label", default="cold", help="what the build was (cold: empty cache; warm: all cached)")
    ap.add_argument("--out", type=Path, help="write the rows and the machine as JSON here")
    ap.add_argument("--note", default="", help="what the page should say about this build (shown above its table)")
    ap.add_argument("--runner-output", type=Path,
                    help="read this saved terminal output of the build instead of its notebooks and logs")
    args = ap.parse_args()
    if args.runner_output:
        rows = from_runner_output(args.runner_output, args.only)
        if not rows:
            raise SystemExit(f"no finished or kept notebook ('[k/n] paper/name: ok in …' or '… up to date') in "
                             f"{args.runner_output}")
    else:
        rows = profile(args.root.resolve(), args.only)
    if not rows:
        raise SystemExit(f"no executed notebook with cell timings under {args.root / 'book/generated/notebooks'}")
    by_chapter: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_chapter[r["chapter"]].append(r)
    for chapter, rs in by_chapter.items():
        print(f"{chapter}: {sum(r['seconds'] for r in rs) / 60:.1f} min in {len(rs)} notebooks")
        for r in rs:
            cells_ = ", ".join(f"{k} {v:.0f}s" for k, v in sorted(r["cells"].items()))
            top = r["slowest_cell"]
            where = f" ({cells_}; slowest cell {top['seconds']:.0f}s: {top['first_line']})" if top else ""
            print(f"  {r['notebook']:<32} {r['seconds']:7.1f} s{where}")
            for desc, j in sorted(r["jobs"].items(), key=lambda kv: -kv[1]["seconds"]):
                print(f"      job {desc:<50} {j['n']:4d} × , {j['seconds']:8.1f} s in all, longest {j['max']:.0f} s")
    if args.out:
        write_results(args.out, {"kind": "chapters", "label": args.label, "note": args.note}, rows,
                      checkout=args.root.resolve())  # the commit of the build read, not of this script


if __name__ == "__main__":
    main()
