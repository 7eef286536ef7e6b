"""Execute every notebook with papermill at one profile, write the ledger, render the book.

::

    python -m rilib.runner --profile default              # all notebooks, then jupyter-book build
    python -m rilib.runner --profile ci --only kim2019    # a subset (substring match on paper/name)
    python -m rilib.runner --profile ci --no-book         # execute + ledger only

The py:percent sources in ``notebooks/<paper>/<name>.py`` are converted with jupytext into
``_build/papermill/…`` and executed *into* ``book/generated/notebooks/<paper>/<name>.ipynb`` (never back into the
sources, so papermill's injected-parameters cell can never leak into them). Jupyter Book then renders with
execution off. MathJax comes from the local Debian copy (``libjs-mathjax``), so the book reads offline.

Exit status is non-zero when any notebook failed; the message names the notebook and the cell.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .profiles import PROFILE_NAMES

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
GENERATED = REPO / "book" / "generated"
MATHJAX_DIRS = (Path("/usr/share/javascript/mathjax"), Path("/usr/share/mathjax"))
#: per-cell timeout (seconds) by profile; paper runs are long and have none
CELL_TIMEOUT = {"ci": 900, "default": 3600, "paper": None}
# OpenMP threads that spin while waiting make small torch ops ~100x slower whenever another process shares the
# CPU (measured here: 0.8 ms vs 130 ms per MLP step on 2 busy cores); passive waiting costs nothing when idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["discover", "execute", "build_book", "main", "NotebookRun"]


@dataclass
class NotebookRun:
    name: str  # "<paper>/<notebook>"
    seconds: float
    ok: bool
    error: str = ""


def discover(only: list[str] | None = None) -> list[Path]:
    """All notebook sources (``notebooks/<paper>/*.py``), optionally those whose ``paper/name`` contains a pattern."""
    paths = sorted(p for p in NOTEBOOKS.glob("*/*.py") if not p.name.startswith("_"))
    if only:
        paths = [p for p in paths if any(o in f"{p.parent.name}/{p.stem}" for o in only)]
    return paths


def _kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    return "rilib" if "rilib" in specs else "python3"


def execute(src: Path, *, profile: str, kernel: str | None = None, generated: Path = GENERATED) -> NotebookRun:
    """Convert ``src`` with jupytext and execute it with papermill into ``<generated>/notebooks``."""
    import jupytext
    import nbformat
    import papermill as pm

    name = f"{src.parent.name}/{src.stem}"
    staging = generated.parent.parent / "_build" / "papermill" / src.parent.name
    staging.mkdir(parents=True, exist_ok=True)
    out_dir = generated / "notebooks" / src.parent.name
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(src)
    in_path = staging / f"{src.stem}.ipynb"
    nbformat.write(nb, in_path)
    out_path = out_dir / f"{src.stem}.ipynb"
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(in_path), str(out_path), parameters={"profile": profile}, kernel_name=kernel or _kernel_name(),
            cwd=str(src.parent), progress_bar=False, execution_timeout=CELL_TIMEOUT[profile], log_output=False,
            language="python",
        )
        return NotebookRun(name, time.perf_counter() - t0, True)
    except Exception as e:  # noqa: BLE001 - report every failure with its cell
        return NotebookRun(name, time.perf_counter() - t0, False, _describe_failure(e, out_path))


def _describe_failure(e: Exception, out_path: Path) -> str:
    cell = getattr(e, "exec_count", None)
    ename, evalue = getattr(e, "ename", type(e).__name__), getattr(e, "evalue", str(e))
    where = f"cell [{cell}]" if cell is not None else "before any cell ran"
    return f"{where}: {ename}: {str(evalue).strip()[:500]} (executed notebook: {out_path})"


def _mathjax_source() -> Path | None:
    for d in MATHJAX_DIRS:
        if (d / "MathJax.js").is_file():
            return d
    return None


def build_book(*, root: Path = REPO, strict: bool = False) -> Path:
    """``jupyter-book build`` of ``root`` (execution off), then copy the local MathJax into the output."""
    html = root / "_build" / "html"
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jb is None:
        raise FileNotFoundError("jupyter-book not found: install it with `pip install 'jupyter-book<2'` (make book does)")
    cmd = [jb, "build", str(root)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    subprocess.run(cmd, check=True, cwd=root)
    mj = _mathjax_source()
    if mj is None:
        print("warning: no local MathJax (Debian package libjs-mathjax): formulas will show as TeX source. "
              "Install it with `apt-get install libjs-mathjax` (as root).", file=sys.stderr)
    else:
        dest = html / "_static" / "mathjax"
        for part in ("MathJax.js", "config", "extensions", "jax/input/TeX", "jax/output/CommonHTML", "jax/element",
                     "fonts/HTML-CSS/TeX/woff", "localization/en"):
            s, t = mj / part, dest / part
            if s.is_dir():
                shutil.copytree(s, t, dirs_exist_ok=True)
            elif s.is_file():
                t.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(s, t)
    return html / "index.html"


def _write_report(runs: list[NotebookRun], profile: str, counts, generated: Path) -> None:
    lines = ["# Build report", "", f"Profile: `{profile}`. Built {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
             f"with Python {sys.version.split()[0]}.", "", "| notebook | status | seconds |", "|---|---|---|"]
    lines += [f"| `{r.name}` | {'ok' if r.ok else 'FAILED: ' + r.error.replace('|', '/')} | {r.seconds:.1f} |"
              for r in runs]
    lines += [f"| **total** | | {sum(r.seconds for r in runs):.1f} |", "", "Ledger verdicts: "
              + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + "."]
    generated.mkdir(parents=True, exist_ok=True)
    (generated / "build_report.md").write_text("\n".join(lines) + "\n")


def _placeholder_pages(generated: Path) -> None:
    """Every page the table of contents names must exist, even when its notebook was not executed this time."""
    import nbformat

    for src in discover():
        out = generated / "notebooks" / src.parent.name / f"{src.stem}.ipynb"
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            nb = nbformat.v4.new_notebook()
            nb.cells = [nbformat.v4.new_markdown_cell(
                f"# {src.parent.name}/{src.stem}\n\nNot executed in this build: run "
                f"`python -m rilib.runner --only {src.parent.name}/{src.stem}`.")]
            nbformat.write(nb, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rilib.runner", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="default", choices=PROFILE_NAMES)
    ap.add_argument("--only", nargs="*", help="substrings of '<paper>/<notebook>' to run")
    ap.add_argument("--no-book", action="store_true", help="execute and write the ledger, skip jupyter-book")
    ap.add_argument("--book-only", action="store_true", help="render what was executed before")
    ap.add_argument("--strict", action="store_true", help="jupyter-book -W -n (warnings are errors)")
    ap.add_argument("--book-root", type=Path, default=REPO,
                    help="folder holding _config.yml, _toc.yml and book/ (default: the repository); outputs go to "
                         "<root>/book/generated and <root>/_build/html (the tests build into a temporary copy)")
    args = ap.parse_args(argv)
    root = args.book_root.resolve()
    generated = root / "book" / "generated"
    if root != REPO:
        os.environ["RILIB_RECORDS"] = str(generated / "records")

    from tqdm.auto import tqdm

    from . import results

    runs: list[NotebookRun] = []
    if not args.book_only:
        srcs = discover(args.only)
        if not srcs:
            print(f"no notebook matches {args.only}", file=sys.stderr)
            return 2
        os.environ.setdefault("RILIB_RECORDS", str(results.records_dir()))
        kernel = _kernel_name()
        bar = tqdm(srcs, desc=f"notebooks ({args.profile})", unit="nb")
        for src in bar:
            bar.set_postfix_str(f"{src.parent.name}/{src.stem}")
            run = execute(src, profile=args.profile, kernel=kernel, generated=generated)
            runs.append(run)
            if not run.ok:
                tqdm.write(f"FAILED {src.relative_to(REPO)}: {run.error}")
        bar.close()
        print("\n  notebook                                   status    seconds")
        for r in runs:
            print(f"  {r.name:<42} {'ok' if r.ok else 'FAILED':<8} {r.seconds:8.1f}")
        print(f"  {'total':<42} {'':<8} {sum(r.seconds for r in runs):8.1f}")
    from .profiles import table_markdown

    generated.mkdir(parents=True, exist_ok=True)
    (generated / "profiles_table.md").write_text(table_markdown(highlight=args.profile) + "\n")
    counts = results.write_ledger_page(generated / "ledger.md", claims_file=root / "book" / "claims.yaml",
                                       records=results.records_dir())
    print("ledger:", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    if runs:
        _write_report(runs, args.profile, counts, generated)
    elif not (generated / "build_report.md").exists():
        _write_report([], args.profile, counts, generated)
    failed = [r for r in runs if not r.ok]
    if not args.no_book:
        _placeholder_pages(generated)
        index = build_book(root=root, strict=args.strict)
        print(f"book: {index}")
    if failed:
        for r in failed:
            print(f"error: notebook {r.name} failed at {r.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
