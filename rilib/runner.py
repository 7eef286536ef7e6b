"""Execute every notebook with papermill at one profile, write the ledger, render the book.

::

    python -m rilib.runner --profile default              # all notebooks, then jupyter-book build
    python -m rilib.runner --profile ci --only kim2019    # a subset (substring match on paper/name)
    python -m rilib.runner --profile ci --no-book         # execute + ledger only
    python -m rilib.runner --profile paper --plan         # what is missing, what would be trained, how long
    python -m rilib.runner --profile paper --scheduler tcp://10.0.0.5:8786   # models and evaluations on a cluster

Before any kernel starts, :mod:`rilib.preflight` checks every dataset and weight file the chosen notebooks need
(one message lists all that is missing; the run does not start) and prints the plan; a paper-profile run on a
machine without CUDA and without a cluster asks for confirmation (``--yes``).

The py:percent sources in ``notebooks/<paper>/<name>.py`` are converted with jupytext into
``_build/papermill/…`` and executed *into* ``book/generated/notebooks/<paper>/<name>.ipynb`` (never back into the
sources, so papermill's injected-parameters cell can never leak into them). Jupyter Book then renders with
execution off. MathJax comes from the local Debian copy (``libjs-mathjax``), so the book reads offline.

While a notebook runs, the terminal shows what its long cells are doing: every kernel gets ``$RILIB_PROGRESS``,
a file to which :func:`rilib.parallel.map_jobs` (one line per finished job: k of n, elapsed, remaining) and
:func:`rilib.train.fit` (one line per epoch) append; a thread prints those lines prefixed with the notebook and
its elapsed time, and says which cell is running when nothing was reported for a while. The executed notebooks
get no progress bars.

A notebook whose executed copy is up to date is not executed again (``--rerun`` executes it anyway): the
executed notebook keeps, in its metadata, the :func:`execution_key` it ran under — its source, the profile, the
logic of the whole rilib package, the claims ledger its claims box reads, the data files, the library versions and
where the work ran — and a digest of every record and figure it wrote. When the key is the same and those outputs
are still there unchanged, running it again could only give the same page (the numbers are seeded), so the runner
says so and keeps it, as Jupyter Book's execution cache does for unchanged notebooks (which, unlike this key, does
not see a change of the library). The runner prints why a notebook is executed again (what changed).

Each cell may run for at most :data:`CELL_TIMEOUT` ``[profile]`` seconds (``$RILIB_CELL_TIMEOUT`` or
``--cell-timeout`` override it; ``0`` means no limit). Exit status is non-zero when any notebook failed; the
message names the notebook and the cell (and, for a timeout, how to raise it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .cache import Key, atomic_write
from .parallel import PROGRESS_ENV, SCHEDULER_ENV, duration
from .profiles import PROFILE_NAMES

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
GENERATED = REPO / "book" / "generated"
MATHJAX_DIRS = (Path("/usr/share/javascript/mathjax"), Path("/usr/share/mathjax"))
#: Per-cell timeout (seconds) by profile, a guard against a hung kernel rather than a budget: about 3x the longest
#: measured time of a whole chapter at that profile on the 2-core reference CPU, so that a slower or busier machine
#: still passes. ``ci``: the whole book takes ~3 min (budget 10) -> 30 min. ``default``: the Etmann chapter's
#: cohorts take ~31 min (its first notebook has one ~25-minute cell) -> 2 h. ``paper``: hours on a GPU -> none.
#: ``$RILIB_CELL_TIMEOUT`` (seconds; 0 or "none" for no limit) or ``--cell-timeout`` override the table.
CELL_TIMEOUT: dict[str, int | None] = {"ci": 1800, "default": 7200, "paper": None}
TIMEOUT_ENV = "RILIB_CELL_TIMEOUT"
#: seconds without a progress line after which the runner says which cell is still running
HEARTBEAT_S = 120.0
#: the kernel ``make`` registers, and the command that does it
KERNEL = "rilib"
REGISTER_KERNEL = f"{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL} --display-name {KERNEL}"

__all__ = ["discover", "execute", "execution_key", "build_book", "main", "NotebookRun"]


@dataclass
class NotebookRun:
    name: str  # "<paper>/<notebook>"
    seconds: float
    ok: bool
    error: str = ""
    reused: str = ""  # why the executed copy was kept (it was up to date); empty when the notebook was executed


def discover(only: list[str] | None = None) -> list[Path]:
    """All notebook sources (``notebooks/<paper>/*.py``), optionally those whose ``paper/name`` contains a pattern."""
    paths = sorted(p for p in NOTEBOOKS.glob("*/*.py") if not p.name.startswith("_"))
    if only:
        paths = [p for p in paths if any(o in f"{p.parent.name}/{p.stem}" for o in only)]
    return paths


def _kernel_name() -> str:
    """The ``rilib`` kernel that ``make`` registers; else ``python3``, with a warning (it may lack rilib)."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if KERNEL in specs:
        return KERNEL
    print(f"warning: Jupyter kernel '{KERNEL}' is not registered; the notebooks run in the 'python3' kernel "
          f"({specs.get('python3', 'not found either')}), which may be another Python without rilib. "
          f"Register it with: {REGISTER_KERNEL}", file=sys.stderr, flush=True)
    return "python3"


def cell_timeout(profile: str, override: str | float | None = None) -> float | None:
    """Seconds a cell may run at ``profile``: ``override``, else ``$RILIB_CELL_TIMEOUT``, else :data:`CELL_TIMEOUT`.

    ``0`` (or ``"none"``, ``"off"``) means no limit.
    """
    raw = override if override is not None else os.environ.get(TIMEOUT_ENV, "").strip() or None
    if raw is None:
        return CELL_TIMEOUT[profile]
    if isinstance(raw, str) and raw.strip().lower() in ("none", "off", "inf"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV}={raw!r}: give the per-cell timeout in seconds (0 or 'none': no limit)") from None
    return value if value > 0 else None


def _timeout_help(profile: str) -> str:
    return (f"raise it with {TIMEOUT_ENV}=<seconds> (0: no limit), e.g. `{TIMEOUT_ENV}=0 make book PROFILE={profile}` "
            f"or `python -m rilib.runner --profile {profile} --cell-timeout 0`")


def _running_cell(out_path: Path) -> tuple[int, int, str, str] | None:
    """(position among the code cells, number of code cells, first line, start time) of the last cell papermill
    started — the one running now, or the one that timed out — from the notebook papermill saves at each cell start."""
    try:
        nb = json.loads(out_path.read_text())
    except (OSError, ValueError):
        return None
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    started = [k for k, c in enumerate(code, 1) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not started:
        return None
    cell = code[started[-1] - 1]
    src = "".join(cell.get("source", ""))
    first = next((ln.strip() for ln in src.splitlines() if ln.strip()), "")
    return started[-1], len(code), first[:60], cell["metadata"]["papermill"]["start_time"]


class _Progress:
    """Tail the kernel's ``$RILIB_PROGRESS`` file in a thread and print its lines with the notebook's name."""

    def __init__(self, name: str, out_path: Path, *, stream=None, poll: float = 1.0, heartbeat: float | None = None):
        fd, path = tempfile.mkstemp(prefix="rilib-progress-", suffix=".log")
        os.close(fd)
        self.path, self.name, self.out_path = Path(path), name, out_path
        self.stream, self.poll = stream or sys.stdout, poll
        self.heartbeat = HEARTBEAT_S if heartbeat is None else heartbeat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress {name}", daemon=True)
        self.t0 = time.perf_counter()
        self._pos, self._last_line, self._last_print = 0, self.t0, self.t0
        self.lines: list[str] = []  # "<seconds since start>\t<line>", kept in <generated>/logs (see log_path)

    def __enter__(self) -> "_Progress":
        self._old = os.environ.get(PROGRESS_ENV)
        os.environ[PROGRESS_ENV] = str(self.path)  # inherited by the kernel papermill starts, and its workers
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._drain()
        if self._old is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = self._old
        self.path.unlink(missing_ok=True)
        try:
            atomic_write(self.log_path, "".join(line + "\n" for line in self.lines))
        except OSError as e:
            print(f"warning: could not keep the progress log {self.log_path}: {e}", file=sys.stderr)

    @property
    def log_path(self) -> Path:
        """``<generated>/logs/<paper>/<name>.log``: the notebook's progress lines with their times (seconds since
        the notebook started), read by ``benchmarks/chapter_profile.py``."""
        return self.out_path.parents[2] / "logs" / self.out_path.parent.name / f"{self.out_path.stem}.log"

    def _print(self, text: str) -> None:
        print(f"  [{duration(time.perf_counter() - self.t0):>6}] {self.name}: {text}", file=self.stream, flush=True)

    def _drain(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next poll
        self._pos += end
        for line in data[:end].decode("utf-8", "replace").splitlines():
            if line.strip():
                self.lines.append(f"{time.perf_counter() - self.t0:.1f}\t{line.strip()}")
                self._print(line.strip())
                self._last_line = self._last_print = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self._drain()
            now = time.perf_counter()
            if now - self._last_print >= self.heartbeat:
                self._print(self._where() + f"; no progress line for {duration(now - self._last_line)}")
                self._last_print = now

    def _where(self) -> str:
        cell = _running_cell(self.out_path)
        if cell is None:
            return "starting the kernel"
        try:
            since = datetime.now(timezone.utc) - datetime.fromisoformat(cell[3])
            running = f" for {duration(since.total_seconds())}"
        except (TypeError, ValueError):
            running = ""
        return f"cell {cell[0]} of {cell[1]} running{running} ({cell[2]})"


#: the metadata entry of an executed notebook that holds its execution key and the digests of its outputs
META = "rilib_execution"
#: packages whose versions can change what a page shows (numbers, figures, the rendering of the notebook)
PAGE_PACKAGES = ("matplotlib", "seaborn", "mlxtend", "scipy", "jupytext", "papermill", "nbformat", "ipykernel",
                 "myst-nb")


def _sha256(path: Path) -> str:
    from .zoo import _sha256 as file_sha256  # the zoo's digest of a weight file, read in blocks

    return file_sha256(path)


def data_stamp() -> str:
    """Digest of the data files every notebook may read: every file below the data folder
    (:func:`rilib.data.data_root`; the zoo cache — ``$RILIB_CACHE`` and a checkout's ``data/zoo`` — left out: its
    entries are results under their own keys) and below Debian's Fashion-MNIST, by path within its folder and size,
    and by content (files up to :data:`SMALL_FILE` bytes) or modification time (larger ones: datasets, weights) — so
    adding, removing or rewriting a dataset or weight file executes the pages again, while the same files in
    another checkout or on another machine (CI restoring the executed pages) give the same stamp. Computed once per
    process (a walk over the folders)."""
    global _DATA_STAMP
    if _DATA_STAMP is None:
        import hashlib

        from .cache import _checkout_root, cache_dir
        from .data.container import data_root
        from .data.idx import DEBIAN_FASHION_MNIST

        checkout = _checkout_root()
        zoo = {cache_dir().resolve(), *([(checkout / "data" / "zoo").resolve()] if checkout else [])}
        items: list[tuple] = []
        for label, top in (("data", data_root()), ("debian fashion-mnist", Path(DEBIAN_FASHION_MNIST))):
            if not top.exists():
                items.append((label, None))
                continue
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames[:] = sorted(d for d in dirnames if (Path(dirpath) / d).resolve() not in zoo)
                for n in sorted(filenames):
                    f = Path(dirpath) / n
                    try:
                        st = f.stat()
                        what = _sha256(f) if st.st_size <= SMALL_FILE else st.st_mtime_ns
                    except OSError:
                        continue
                    items.append((label, f.relative_to(top).as_posix(), st.st_size, what))
        _DATA_STAMP = hashlib.sha256(repr(items).encode()).hexdigest()
    return _DATA_STAMP


#: data files up to this size enter :func:`data_stamp` by content, larger ones by modification time
SMALL_FILE = 1 << 20
_DATA_STAMP: str | None = None


def execution_key(src: Path, profile: str) -> Key:
    """The :func:`rilib.cache.key` an executed notebook of ``src`` at ``profile`` is valid under.

    ``spec``: the notebook, its source (SHA-256 of the ``.py``), the profile and the claims ledger its claims box
    reads (``book/claims.yaml``); ``data``: :func:`data_stamp`; ``code``: the logic of the whole ``rilib`` package;
    ``versions`` (always in a key) plus :data:`PAGE_PACKAGES` and Python; ``device``: whether torch sees CUDA, and
    the Dask scheduler the jobs go to (``$RILIB_SCHEDULER``), since numbers computed on a GPU differ in the last
    digits from the CPU's.
    """
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from . import results
    from .cache import key

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "absent"

    claims = results.claims_path()
    spec = {"notebook": f"{src.parent.name}/{src.stem}", "source": _sha256(src), "profile": profile,
            "claims": _sha256(claims) if claims.is_file() else None}
    return key("notebook-execution", spec=spec, data={"files": data_stamp()}, code="rilib",
               packages={n: ver(n) for n in PAGE_PACKAGES}, python=platform.python_version(),
               device={"cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                       "scheduler": os.environ.get(SCHEDULER_ENV, "").strip() or None})


def _output_dirs() -> list[Path]:
    """Where a notebook writes besides its executed copy: its record and the figures saved next to the records."""
    from . import results

    rec = results.records_dir()
    return [rec, rec.parent / "figures"]


def _snapshot(dirs: list[Path]) -> dict[Path, tuple]:
    out: dict[Path, tuple] = {}
    for d in dirs:
        for f in d.glob("*") if d.is_dir() else []:
            if f.is_file():
                st = f.stat()
                out[f] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def _written(before: dict[Path, tuple], dirs: list[Path]) -> dict[str, str]:
    """The files in ``dirs`` that are new or rewritten since ``before``, as ``{"<folder>/<name>": sha256}``."""
    return {f"{f.parent.name}/{f.name}": _sha256(f) for f, st in _snapshot(dirs).items() if before.get(f) != st}


def _differences(old: dict, new: dict) -> list[str]:
    """What changed between two execution keys, in words."""
    words = {"source": "its source", "profile": "the profile", "claims": "book/claims.yaml", "data": "the data files",
             "code": "rilib's code", "versions": "library versions", "packages": "library versions",
             "python": "the Python version", "device": "the device", "notebook": "the notebook"}
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if "spec" in changed:
        changed.remove("spec")
        o, n = old.get("spec") or {}, new.get("spec") or {}
        changed += [k for k in sorted(set(o) | set(n)) if o.get(k) != n.get(k)]
    return sorted({words.get(k, k) for k in changed})


def stale(src: Path, out_path: Path, profile: str) -> str | None:
    """``None`` when the executed notebook ``out_path`` of ``src`` is up to date at ``profile`` (see the module
    docstring), else why it must be executed again, in words."""
    import nbformat

    if not out_path.is_file():
        return "not executed yet"
    try:
        nb = nbformat.read(out_path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable executed copy is simply executed again
        return f"its executed copy {out_path} cannot be read"
    meta = nb.metadata.get(META)
    if not meta or "key" not in meta:
        return "its executed copy has no execution key (executed by an older runner or failed)"
    new = execution_key(src, profile).to_dict()
    if meta["key"] != new:
        return "changed since it was executed: " + ", ".join(_differences(meta["key"], new))
    base = _output_dirs()[0].parent
    for rel, digest in sorted(meta.get("outputs", {}).items()):
        f = base / rel
        if not f.is_file():
            return f"its output {f} is missing"
        if _sha256(f) != digest:
            return f"its output {f} was changed since"
    return None


def execute(src: Path, *, profile: str, kernel: str | None = None, generated: Path = GENERATED,
            timeout: float | None | str = "profile", progress: bool = True, reuse: bool = False) -> NotebookRun:
    """Convert ``src`` with jupytext and execute it with papermill into ``<generated>/notebooks``.

    ``timeout``: seconds per cell (``None``: no limit); by default :func:`cell_timeout` of ``profile``. With
    ``progress``, the kernel's progress lines are printed on stdout while it runs (see the module docstring). With
    ``reuse``, an executed copy that is up to date (:func:`stale`) is kept and nothing runs; otherwise, and after
    a failure, the notebook is executed.
    """
    import jupytext
    import nbformat
    import papermill as pm

    name = f"{src.parent.name}/{src.stem}"
    out_path = _out_path(src, generated)
    if reuse and stale(src, out_path, profile) is None:
        return NotebookRun(name, 0.0, True, reused=_executed_when(out_path))
    staging = generated.parent.parent / "_build" / "papermill" / src.parent.name
    staging.mkdir(parents=True, exist_ok=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(src)
    in_path = staging / f"{src.stem}.ipynb"
    nbformat.write(nb, in_path)
    if timeout == "profile":
        timeout = cell_timeout(profile)
    # OpenMP threads that spin while waiting make small torch ops ~100x slower whenever another process shares the
    # CPU (measured: 0.8 ms vs 130 ms per MLP step on 2 busy cores); passive waiting costs nothing when idle. The
    # kernel inherits this process's environment.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    ekey = execution_key(src, profile)  # before the run: a source edited while it runs is executed next time
    dirs = _output_dirs()
    before = _snapshot(dirs)
    t0 = time.perf_counter()
    try:
        with _Progress(name, out_path) if progress else _nothing():
            pm.execute_notebook(
                str(in_path), str(out_path), parameters={"profile": profile}, kernel_name=kernel or _kernel_name(),
                cwd=str(src.parent), progress_bar=False, execution_timeout=timeout, log_output=False,
                language="python",
            )
        _tag_for_rendering(out_path, {"key": ekey.to_dict(), "outputs": _written(before, dirs)})
        return NotebookRun(name, time.perf_counter() - t0, True)
    except Exception as e:  # noqa: BLE001 - report every failure with its cell
        return NotebookRun(name, time.perf_counter() - t0, False, _describe_failure(e, out_path, profile, timeout))


def _out_path(src: Path, generated: Path) -> Path:
    """The executed copy of ``src``: ``<generated>/notebooks/<paper>/<name>.ipynb``."""
    return generated / "notebooks" / src.parent.name / f"{src.stem}.ipynb"


def _executed_when(out_path: Path) -> str:
    import nbformat

    try:
        pm = nbformat.read(out_path, as_version=4).metadata.get("papermill", {})
        return f"executed {str(pm.get('end_time', '?'))[:16].replace('T', ' ')} UTC in {duration(pm['duration'])}"
    except Exception:  # noqa: BLE001 - only words for the terminal
        return "executed before"


def _tag_for_rendering(out_path: Path, execution: dict | None = None) -> None:
    """Remove the parameters cells from the rendered page (Jupyter Book's ``remove-cell`` tag): papermill's injected
    cell and the source's own ``parameters`` cell, which shows the source's default profile, not the one that ran
    (every page states its profile in its header). The executed notebook keeps both cells. ``execution`` (its key
    and the digests of its outputs) goes into the notebook's metadata, for :func:`stale`."""
    import nbformat

    nb = nbformat.read(out_path, as_version=4)
    if execution is not None:
        nb.metadata[META] = execution
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(nb, out_path)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def _describe_failure(e: Exception, out_path: Path, profile: str = "default", timeout: float | None = None) -> str:
    if isinstance(e, TimeoutError):  # nbclient's CellTimeoutError
        cell = _running_cell(out_path)
        where = f"cell {cell[0]} of {cell[1]} ({cell[2]})" if cell else "a cell"
        limit = f" after {timeout:g} s" if timeout else ""
        return (f"{where}: timed out{limit} (per-cell timeout of profile {profile!r}: "
                f"CELL_TIMEOUT in rilib/runner.py or ${TIMEOUT_ENV}); {_timeout_help(profile)} "
                f"(executed notebook: {out_path})")
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
    _stamp_pages(html, build_stamp(root / "book" / "generated"))
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


def ci_cache_key(profile: str) -> str:
    """``rilib-<profile>-<digest>``: the key under which CI keeps the zoo of a profile; the digest is
    :func:`rilib.cache.code_digest` of the whole package (a docstring edit keeps it, a logic edit changes it)."""
    from .cache import code_digest

    return f"rilib-{profile}-{code_digest('rilib')[:16]}"


#: the chapters' budgets at the default profile on the 2-core CPU box, cold cache (minutes; the speed issue)
BUDGET_MIN = {"etmann2019": 25, "kim2019": 25, "noack2021": 15, "wang2022": 25}


def _machine_line(m: dict) -> str:
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU"
    return (f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores{gpu}; torch {m.get('torch', '?')}, Python "
            f"{m.get('python', '?')}; rilib commit `{m.get('commit', '?')}`, {m.get('date', '?')}")


def performance_markdown(results_dir: Path) -> str:
    """The Performance page's tables from the newest benchmark results in ``results_dir`` (JSON written by
    ``benchmarks/chapter_profile.py --out`` and ``benchmarks/hotspots.py --out``); says so when there are none."""
    found: dict[str, tuple[str, dict]] = {}
    for f in sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []:
        try:
            d = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        kind = f"{d.get('kind')}-{d.get('label', '')}"
        if kind not in found or d.get("machine", {}).get("date", "") >= found[kind][1].get("machine", {}).get("date", ""):
            found[kind] = (f.name, d)
    if not found:
        return ("No benchmark results yet: run `benchmarks/chapter_profile.py --out benchmarks/results/<name>.json` "
                "after a cold build and `benchmarks/hotspots.py --out …`.\n")
    lines: list[str] = []
    for kind, (name, d) in sorted(found.items()):
        rows = d.get("rows", [])
        if d.get("kind") == "chapters":
            profs = sorted({str(r.get("profile")) for r in rows})
            lines += [f"## Chapters, {d.get('label', '')} build at profile {', '.join(profs)}", "",
                      f"Measured on {_machine_line(d.get('machine', {}))} (`benchmarks/results/{name}`). Wall time "
                      "is the sum of the notebook's cells; job time is each finished job's own time, summed over the "
                      "worker processes (two here, so it can exceed the wall time)."
                      + (f" {d['note']}" if d.get("note") else ""), "",
                      "| chapter | wall time | budget | notebooks |", "|---|---|---|---|"]
            chapters: dict[str, list[dict]] = {}
            for r in rows:
                chapters.setdefault(r["chapter"], []).append(r)
            for ch, rs in chapters.items():
                total = sum(r["seconds"] for r in rs) / 60
                lines.append(f"| {ch} | {total:.1f} min | {BUDGET_MIN.get(ch, '–')} min | {len(rs)} |")
            lines += ["", "| notebook | wall (s) | compute / figures / setup / other (s) | slowest cell | jobs: kind × n, "
                      "time in all (s) |", "|---|---|---|---|---|"]
            for r in rows:
                c = r.get("cells", {})
                split = " / ".join(f"{c.get(k, 0):.0f}" for k in ("compute", "figures", "setup", "other")) if c else (
                    "kept: up to date, not executed" if r.get("kept") else "–")
                jobs = "; ".join(f"{k} × {v['n']}, {v['seconds']:.0f}" for k, v in
                                 sorted(r.get("jobs", {}).items(), key=lambda kv: -kv[1]["seconds"]))
                cell = r.get("slowest_cell", {})
                first = str(cell.get("first_line", "")).replace("|", "/")
                slowest = f"{cell.get('seconds', 0):.0f} s: `{first}`" if cell else "–"
                lines.append(f"| {r['chapter']}/{r['notebook']} | {r['seconds']:.0f} | {split} | {slowest} | "
                             f"{jobs or '–'} |")
            lines.append("")
        elif d.get("kind") == "hotspots":
            lines += ["## Hot spots against their references", "",
                      f"Measured on one thread on {_machine_line(d.get('machine', {}))} "
                      f"(`benchmarks/results/{name}`, profile `{d.get('profile')}`).", "",
                      "| chapter | hot spot | on | time (s) | reference (s) | time ratio | median L2 | distance ratio |",
                      "|---|---|---|---|---|---|---|---|"]
            for r in rows:
                def v(k, fmt="{}"):
                    return fmt.format(r[k]) if k in r else "–"
                share = f" ({r['share'] * 100:.0f} % of measure)" if "share" in r else ""
                lines.append(f"| {r['chapter']} | {r['hot spot']}{share} | "
                             f"{r['on']} | {v('seconds')} | {v('reference_seconds')} | {v('time_ratio')} | "
                             f"{v('median_l2')} | {v('distance_ratio')} |")
            lines.append("")
    return "\n".join(lines) + "\n"


def build_stamp(generated: Path) -> str:
    """What every page says it was built from: the commit, the profile(s) its notebooks ran at (from their
    records), the date."""
    profiles_run = set()
    for f in sorted((generated / "records").glob("*.json")) if (generated / "records").is_dir() else []:
        try:
            profiles_run.add(json.loads(f.read_text()).get("profile"))
        except (OSError, ValueError):
            continue
    profiles_run.discard(None)
    which = ", ".join(f"<code>{p}</code>" for p in sorted(profiles_run)) or "none recorded"
    commit = os.environ.get("RILIB_BUILD_COMMIT") or build_commit()
    return (f"Built from rilib commit <code>{commit}</code>; notebooks executed at profile {which}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. A page kept from an earlier run (its source, "
            f"rilib's logic, data and versions unchanged) names the commit it was executed at in its claims box.")


_STAMP_CLASS = "rilib-build-stamp"


def _stamp_pages(html: Path, stamp: str) -> int:
    """Put ``stamp`` at the foot of every HTML page (replacing an earlier stamp); returns how many pages."""
    import re

    block = f'<div class="{_STAMP_CLASS}" style="font-size:0.8em;color:#555;margin:1em 2em">{stamp}</div>'
    old = re.compile(rf'<div class="{_STAMP_CLASS}"[^>]*>.*?</div>', re.S)
    n = 0
    for page in html.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        text = old.sub("", text)
        if "</body>" not in text:
            continue
        page.write_text(text.replace("</body>", block + "</body>", 1), encoding="utf-8")
        n += 1
    return n


def build_commit() -> str:
    """The checkout's short commit (``+dirty`` with uncommitted changes), or ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _write_report(runs: list[NotebookRun], profile: str, counts, generated: Path) -> None:
    from . import results

    lines = ["# Build report", "", f"Profile: `{profile}`. Built {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
             f"with Python {sys.version.split()[0]} from rilib commit `{os.environ.get('RILIB_BUILD_COMMIT') or build_commit()}`.", "", "| notebook | status | seconds |", "|---|---|---|"]
    def status(r: NotebookRun) -> str:
        if r.reused:
            return f"up to date, kept ({r.reused})"
        return "ok" if r.ok else "FAILED: " + r.error.replace("|", "/")

    lines += [f"| `{r.name}` | {status(r)} | {r.seconds:.1f} |" for r in runs]
    lines += [f"| **total** | | {sum(r.seconds for r in runs):.1f} |", "", "Ledger verdicts:", "",
              *results.counts_table(counts)]
    generated.mkdir(parents=True, exist_ok=True)
    (generated / "build_report.md").write_text("\n".join(lines) + "\n")


def _page_info(src: Path, generated: Path, records: dict) -> dict:
    """Title, status and thumbnail (the first figure, shrunk to a card) of the executed page of ``src``."""
    import base64
    import io

    import nbformat
    from PIL import Image

    name = f"{src.parent.name}/{src.stem}"
    out = generated / "notebooks" / src.parent.name / f"{src.stem}.ipynb"
    info = {"notebook": name, "title": name, "doc": f"generated/notebooks/{name}", "thumbnail": None,
            "status": "not executed"}
    if not out.exists():
        return info
    nb = nbformat.read(out, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            head = next((ln[2:].strip() for ln in cell.source.splitlines() if ln.startswith("# ")), None)
            if head:
                info["title"] = head
                break
    if name in records:
        info["status"] = f"executed at profile `{records[name].get('profile', '?')}`"
    for cell in nb.cells:
        png = next((o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})), None)
        if png:
            img = Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB")
            img.thumbnail((480, 360))
            thumb = generated / "figures" / "thumbs" / f"{src.parent.name}-{src.stem}.png"
            thumb.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            img.save(buf, format="PNG", optimize=True)
            atomic_write(thumb, buf.getvalue())
            info["thumbnail"] = f"generated/figures/thumbs/{thumb.name}"
            break
    return info


def _chapter_overviews(root: Path, generated: Path) -> None:
    """``<generated>/<paper>_pages.md`` for every paper: its pages as cards (:func:`rilib.results.chapter_overview`),
    in the order of the table of contents; each chapter page includes its file."""
    import yaml

    from . import results

    records = results.load_records()
    rows = results.ledger_rows(results.load_claims(root / "book" / "claims.yaml"), records)
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    order = [s["file"].rsplit("/", 1)[-1] for part in toc.get("parts", []) for ch in part.get("chapters", [])
             for s in ch.get("sections", [])]
    papers = sorted({p.parent.name for p in discover()} | {r["paper"] for r in rows})
    for paper in papers:
        srcs = sorted((s for s in discover() if s.parent.name == paper),
                      key=lambda s: order.index(s.stem) if s.stem in order else len(order))
        pages = [_page_info(s, generated, records) for s in srcs]
        text = results.chapter_overview(pages, rows) if pages else "No page of this chapter is built yet.\n"
        atomic_write(generated / f"{paper}_pages.md", text)


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


def paper_needs(paper: str, stem: str, profile: str) -> tuple[list, list, list]:
    """What notebook ``<paper>/<stem>`` needs at ``profile`` (:data:`rilib.preflight.Needs`), from the paper's
    ``needs`` module; a folder without one needs nothing known in advance."""
    import importlib

    name = f"{__package__}.papers.{paper}.needs"
    try:
        mod = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name not in (name, f"{__package__}.papers.{paper}"):
            raise
        return [], [], []
    return mod.needs(stem, profile)


def _preflight(srcs: list[Path], profile: str, *, plan_only: bool, yes: bool) -> int | None:
    """Check the data and weights, print the plan; an exit status when the run must not start, else None."""
    from . import preflight

    estimate = plan_only or profile == "paper"
    if estimate:
        print("checking data and weights, measuring the training cost on this device ...", flush=True)
    plan = preflight.check(srcs, profile, needs=paper_needs, estimate=estimate)
    print(preflight.format_plan(plan, profile), file=sys.stdout if plan.ok else sys.stderr, flush=True)
    if not plan.ok:
        return 2
    if plan_only:
        return 0
    if (plan.to_train or plan.dependent) and preflight.needs_confirmation(profile) and not yes:
        question = ("this machine has no CUDA device and no Dask cluster ($RILIB_SCHEDULER): the paper profile "
                    "will take the time above")
        if not sys.stdin.isatty():
            print(f"error: {question}; add --yes to run it anyway, or --scheduler ADDRESS to use a cluster",
                  file=sys.stderr)
            return 2
        if input(f"{question}. Continue? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing was run", file=sys.stderr)
            return 2
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rilib.runner", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="default", choices=PROFILE_NAMES)
    ap.add_argument("--only", nargs="*", help="substrings of '<paper>/<notebook>' to run")
    ap.add_argument("--no-book", action="store_true", help="execute and write the ledger, skip jupyter-book")
    ap.add_argument("--rerun", action="store_true",
                    help="execute every chosen notebook, also those whose executed copy is up to date (same source, "
                         "profile, rilib code, data and library versions)")
    ap.add_argument("--book-only", action="store_true", help="render what was executed before")
    ap.add_argument("--strict", action="store_true", help="jupyter-book -W -n (warnings are errors)")
    ap.add_argument("--cell-timeout", metavar="SECONDS",
                    help=f"per-cell timeout (0 or 'none': no limit); default ${TIMEOUT_ENV}, else by profile "
                         + ", ".join(f"{k}: {v or 'none'}" for k, v in CELL_TIMEOUT.items()))
    ap.add_argument("--scheduler", metavar="ADDRESS",
                    help=f"address of a Dask scheduler (e.g. tcp://10.0.0.5:8786) that trains and evaluates the "
                         f"models (default ${SCHEDULER_ENV}; unset: worker processes on this machine)")
    ap.add_argument("--plan", action="store_true",
                    help="check the data and weights, print the plan with a training-time estimate, run nothing")
    ap.add_argument("--yes", action="store_true",
                    help="run the paper profile on a machine without CUDA (or a cluster) without asking")
    ap.add_argument("--cache-key", metavar="PROFILE", choices=PROFILE_NAMES,
                    help="print the key a CI cache of the zoo uses (rilib-<profile>-<code digest>) and exit")
    ap.add_argument("--book-root", type=Path, default=REPO,
                    help="folder holding _config.yml, _toc.yml and book/ (default: the repository); outputs go to "
                         "<root>/book/generated and <root>/_build/html (the tests build into a temporary copy)")
    args = ap.parse_args(argv)
    if args.cache_key:
        print(ci_cache_key(args.cache_key))
        return 0
    if args.scheduler:
        os.environ[SCHEDULER_ENV] = args.scheduler  # every kernel inherits it, and sends its jobs there
    root = args.book_root.resolve()
    generated = root / "book" / "generated"
    if root != REPO:
        os.environ["RILIB_RECORDS"] = str(generated / "records")

    from . import results

    runs: list[NotebookRun] = []
    if not args.book_only:
        srcs = discover(args.only)
        if not srcs:
            print(f"no notebook matches {args.only}", file=sys.stderr)
            return 2
        os.environ.setdefault("RILIB_RECORDS", str(results.records_dir()))
        verdict = _preflight(srcs, args.profile, plan_only=args.plan, yes=args.yes)
        if verdict is not None:
            return verdict
        try:
            timeout = cell_timeout(args.profile, args.cell_timeout)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        kernel = _kernel_name()
        os.environ.setdefault("RILIB_BUILD_COMMIT", build_commit())  # shown on every page; kernels inherit it
        t_all = time.perf_counter()
        limit = f"{timeout:g} s per cell" if timeout else "no per-cell timeout"
        print(f"executing {len(srcs)} notebooks at profile {args.profile!r} (kernel {kernel}, {limit})", flush=True)
        for k, src in enumerate(srcs, 1):
            label = f"{src.parent.name}/{src.stem}"
            out = _out_path(src, generated)
            why = "--rerun" if args.rerun else stale(src, out, args.profile)
            if why is None:
                runs.append(NotebookRun(label, 0.0, True, reused=_executed_when(out)))
                print(f"[{k}/{len(srcs)}] {label}: up to date ({runs[-1].reused}), kept; --rerun executes it",
                      flush=True)
                continue
            print(f"[{k}/{len(srcs)}] {label} ... ({why})", flush=True)
            run = execute(src, profile=args.profile, kernel=kernel, generated=generated, timeout=timeout)
            runs.append(run)
            status = "ok" if run.ok else "FAILED"
            print(f"[{k}/{len(srcs)}] {label}: {status} in {duration(run.seconds)} "
                  f"(total {duration(time.perf_counter() - t_all)})", flush=True)
            if not run.ok:
                print(f"FAILED {src.relative_to(REPO) if src.is_relative_to(REPO) else src}: {run.error}",
                      file=sys.stderr, flush=True)
        print("\n  notebook                                   status    seconds")
        for r in runs:
            print(f"  {r.name:<42} {'kept' if r.reused else 'ok' if r.ok else 'FAILED':<8} {r.seconds:8.1f}")
        print(f"  {'total':<42} {'':<8} {sum(r.seconds for r in runs):8.1f}")
    from .profiles import table_markdown

    generated.mkdir(parents=True, exist_ok=True)
    (generated / "profiles_table.md").write_text(table_markdown(highlight=args.profile) + "\n")
    from .plotting import verdict_overview

    counts = results.write_ledger_page(generated / "ledger.md", claims_file=root / "book" / "claims.yaml",
                                       records=results.records_dir(), draw=verdict_overview)
    print("ledger:", "; ".join(f"{kind}: " + ", ".join(f"{v} {n}" for v, n in c.most_common())
                               for kind, c in counts.items() if c))
    _chapter_overviews(root, generated)
    (generated / "performance.md").write_text(performance_markdown(REPO / "benchmarks" / "results"))
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
