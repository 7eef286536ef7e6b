"""Train-or-load cache of models, content addressed by their spec.

``zoo.get(spec)`` returns a trained model: from the cache when an intact entry exists, else it trains one with
:func:`rilib.train.fit` and stores it. The key is built by :func:`rilib.cache.key`: the spec (dataset and its
options, architecture, regime, hyper-parameters, seed, profile), the fingerprint of the data actually loaded
(source and tensor digest), a digest of the training code (:func:`train_code`, docstrings ignored) and the library
versions — so any change of any of them gives a new entry (the idea of showyourwork's cached steps).

An entry is a folder ``<cache>/<key>/`` holding ``model.safetensors`` and ``meta.json`` (spec, the full cache key,
final accuracy, train time, per-epoch history, the weights' SHA-256, library versions). Entries are written with
:func:`rilib.cache.atomic_dir` (a temporary folder renamed into place), so a crash never leaves a half-written entry
under the final name, and the leftovers of killed runs are swept (:func:`rilib.cache.sweep`). On load the weights'
hash is checked; a corrupt or partial entry is moved aside (``<key>.corrupt-<time_ns>-<pid>``, never deleted) and
retrained. The cache folder is :func:`rilib.cache.cache_dir`.

Loaded datasets are kept per process (:func:`load_data`), keyed by the spec's data options, the data folder and a
stamp (names, sizes, modification times) of the files the dataset is read from: putting the user's IDX files into
``data/mnist/`` in a running session gives the new data and new keys, never the data loaded before.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import cache as _cache
from . import models as _models
from . import train as _train
from .cache import cache_dir

__all__ = ["ModelSpec", "ZooEntry", "get", "cache_dir", "cached_arrays", "cached_path", "prefetch", "is_cached", "REGIMES",
           "CorruptEntry", "train_code", "load_data"]


REGIMES: dict[str, type] = {
    "ce": _train.CrossEntropy,
    "double_backprop": _train.DoubleBackprop,
    "adversarial": _train.Adversarial,
    "jacobian": _train.JacobianReg,
    "interpretation": _train.InterpretationReg,
    "vaegan": _train.VAEGAN,
}


class CorruptEntry(RuntimeError):
    """A cache entry failed its integrity check (it is retrained, never loaded)."""


@dataclass(frozen=True)
class ModelSpec:
    """Everything that determines a trained model.

    Attributes
    ----------
    dataset, data_kwargs
        ``rilib.data.load(dataset, **data_kwargs)``; ``n_train`` in ``data_kwargs`` takes a deterministic subset.
    arch, arch_kwargs
        ``rilib.models.build(arch, **arch_kwargs)``.
    regime, regime_kwargs
        A key of :data:`REGIMES` and its keyword arguments (e.g. ``{"eps": 0.5, "norm": "l2"}``).
    epochs, batch_size, optimizer, lr_schedule
        Passed to :func:`rilib.train.fit`.
    seed
        Initialisation and data order.
    profile
        The profile that asked for it (part of the key so profiles never share entries by accident).
    init_weights
        Optional path of user-supplied weights to start from (safetensors or a torch state-dict; loaded with
        ``weights_only=True``). Its content hash enters the key.
    extras
        Optional per-training-image tensors the regime reads (the target interpretations of
        :class:`~rilib.train.InterpretationReg`): ``{"name": …, "digest": …, "arrays": [...]}`` of a result stored
        with :func:`cached_arrays` (computed before the model is asked for); the arrays, in training-set order,
        are passed to :func:`rilib.train.fit` as ``extras``. The digest — the key of everything the extras depend
        on — enters the model's key.
    """

    dataset: str
    arch: str
    regime: str = "ce"
    epochs: int = 1
    seed: int = 0
    profile: str = "default"
    batch_size: int = 100
    data_kwargs: dict[str, Any] = field(default_factory=dict)
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    regime_kwargs: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=lambda: {"name": "adam", "lr": 1e-3})
    lr_schedule: dict[str, Any] | None = None
    init_weights: str | None = None
    extras: dict[str, Any] | None = None

    def canonical(self) -> dict[str, Any]:
        """The spec as JSON-ready data, user weights replaced by their path and content hash (no ``extras`` field
        when there are none: the keys of the models trained before the field existed stay valid)."""
        d = asdict(self)
        if d["extras"] is None:
            del d["extras"]
        if self.init_weights:
            p = _resolve(self.init_weights)
            if not p.is_file():
                raise FileNotFoundError(f"init weights {p} not found: put the state-dict there (see data/README.md) "
                                        "or drop init_weights from the spec")
            d["init_weights"] = {"path": str(self.init_weights), "sha256": _sha256(p)}
        return d

    def cache_key(self) -> _cache.Key:
        """The full key: spec, data fingerprint, training-code digest, library versions."""
        return _cache.key("model", spec=self.canonical(), data=_data_fingerprint(self), code=train_code(self))

    @property
    def key(self) -> str:
        return self.cache_key().digest

    def make_regime(self):
        if self.regime not in REGIMES:
            raise ValueError(f"unknown regime {self.regime!r}; known: {', '.join(REGIMES)}")
        kw = dict(self.regime_kwargs)
        if "bounds" in kw:
            kw["bounds"] = tuple(kw["bounds"])
        return REGIMES[self.regime](**kw)


def _json_default(o: Any) -> Any:
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"spec value {o!r} is not JSON-serialisable")


@dataclass
class ZooEntry:
    model: nn.Module
    meta: dict[str, Any]
    path: Path
    loaded: bool  # True: came from the cache; False: trained now

    @property
    def test_acc(self) -> float | None:
        return self.meta.get("test_acc")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_user_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"init weights {p} not found: put the file there or drop init_weights from the spec")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p))
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - report which file and why
        raise ValueError(f"could not load weights {p} with weights_only=True ({e}); supply a safetensors file or a "
                         "plain state-dict") from e
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    return sd


def _load_entry(path: Path, key: str, model: nn.Module) -> dict[str, Any]:
    from safetensors.torch import load_file

    meta_p, w_p = path / "meta.json", path / "model.safetensors"
    try:
        meta = json.loads(meta_p.read_text())
    except (OSError, ValueError) as e:
        raise CorruptEntry(f"{meta_p}: {e}") from e
    if meta.get("key") != key:
        raise CorruptEntry(f"{meta_p}: key {meta.get('key')} != {key}")
    if not w_p.is_file() or _sha256(w_p) != meta.get("weights_sha256"):
        raise CorruptEntry(f"{w_p}: missing or its SHA-256 does not match meta.json")
    try:
        state = load_file(str(w_p))
        model.load_state_dict(state, strict=True)
    except Exception as e:  # noqa: BLE001
        raise CorruptEntry(f"{w_p}: {e}") from e
    return meta


def _write_entry(root: Path, key: str, model: nn.Module, meta: dict[str, Any]) -> Path:
    """Write the entry ``<root>/<key>/`` atomically; an existing one is moved aside (``<key>.replaced-…``)."""
    from safetensors.torch import save_file

    final = root / key
    with _cache.atomic_dir(final, aside="replaced") as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        meta = dict(meta, weights_sha256=_sha256(tmp / "model.safetensors"))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=_json_default))
    return final


def _has_entry(root: Path, key: str) -> bool:
    """Whether ``<root>/<key>/`` looks like a finished entry of ``key`` (its weights are checked by :func:`get`)."""
    try:
        meta = json.loads((root / key / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("key") == key and (root / key / "model.safetensors").is_file()


def build_model(spec: ModelSpec) -> nn.Module:
    return _models.build(spec.arch, **spec.arch_kwargs)


def _resolve(path: str | os.PathLike) -> Path:
    """Relative data / weight paths in specs are relative to the data folder (``$RILIB_DATA`` or ``data/``).

    ``data_root`` is imported from its own module, not through the ``rilib.data`` package: this function is part
    of every model's key (:func:`train_code`), and the package's ``__init__`` changes whenever a loader is added."""
    from .data.container import data_root

    p = Path(path)
    return p if p.is_absolute() else data_root() / p


def _data_spec(spec: ModelSpec) -> tuple[str, str, int]:
    return spec.dataset, _cache.canonical_json(spec.data_kwargs), spec.seed


def _data_sources(dataset: str, data_kwargs: dict[str, Any]) -> list[Path]:
    """The files / folders ``dataset`` is read from (none for generated data)."""
    from . import data as _data

    if data_kwargs.get("path") is not None:
        return [_resolve(data_kwargs["path"])]
    if data_kwargs.get("root") is not None:
        return [Path(data_kwargs["root"]).expanduser()]
    root = _data.data_root()
    name = dataset.strip().lower().replace("_", "-")
    if name == "canvas":  # generated from another dataset's files
        return _data_sources(data_kwargs.get("source", "fashion-mnist"), {"root": data_kwargs.get("root")})
    return {
        "mnist": [root / "mnist"],
        "fashion-mnist": [root / "fashion-mnist", Path(_data.DEBIAN_FASHION_MNIST)],
        "cifar10": [root / _CIFAR_FOLDER],
    }.get(name, [])


#: the folder of the CIFAR-10 python batches under the data folder (see :func:`rilib.data.load_cifar10`)
_CIFAR_FOLDER = "cifar-10-batches-py"


def _stat_stamp(p: Path) -> tuple:
    try:
        st = p.stat()
    except OSError:
        return (str(p), None)
    return (str(p), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _data_stamp(dataset: str, data_kwargs: dict[str, Any]) -> str:
    """A stamp of the files ``dataset`` is read from (every file and folder below its sources: name, size, times,
    inode): it changes when files are added, removed or rewritten, so :func:`load_data` never serves stale data."""
    items: list[tuple] = []
    for src in _data_sources(dataset, data_kwargs):
        items.append(_stat_stamp(src))
        if src.is_dir():
            for dirpath, dirnames, filenames in os.walk(src):
                dirnames.sort()
                for n in sorted(dirnames) + sorted(filenames):
                    items.append(_stat_stamp(Path(dirpath) / n))
    return hashlib.sha256(repr(items).encode()).hexdigest()


@functools.lru_cache(maxsize=8)
def _load_data_cached(dataset: str, data_kwargs_json: str, seed: int, data_root: str, stamp: str):
    return _load_data(dataset, json.loads(data_kwargs_json), seed)


def _data_fingerprint(spec: ModelSpec) -> dict[str, Any]:
    return load_data(spec).fingerprint()


def load_data(spec: ModelSpec):
    """The dataset ``spec`` trains on (loaded once per process while its files stay the same, see the module
    docstring). Shared: do not modify its tensors in place."""
    from . import data as _data

    return _load_data_cached(*_data_spec(spec), str(_data.data_root()), _data_stamp(spec.dataset, spec.data_kwargs))


def _load_data(dataset: str, data_kwargs: dict[str, Any], seed: int):
    from . import data as _data

    spec = ModelSpec(dataset=dataset, arch="", data_kwargs=data_kwargs, seed=seed)
    kw = dict(spec.data_kwargs)
    if "path" in kw:
        kw["path"] = _resolve(kw["path"])
    n_train, n_test = kw.pop("n_train", None), kw.pop("n_test", None)
    ds = _data.load(spec.dataset, **kw)
    if n_train is not None or n_test is not None:
        ds = ds.subset(n_train=n_train, n_test=n_test, seed=spec.seed)
    return ds


def get(
    spec: ModelSpec,
    *,
    device: torch.device | str | None = None,
    retrain: bool = False,
    progress: bool = True,
    dataset=None,
) -> ZooEntry:
    """The model of ``spec``: loaded from the cache if an intact entry exists, else trained and stored.

    ``dataset`` may pass an already loaded :class:`rilib.data.Dataset`; it must be the data ``spec`` describes
    (its fingerprint is compared with the key's, a mismatch raises ``ValueError``). The returned model is in eval
    mode on ``device`` (default: CUDA when available).
    """
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    root = cache_dir()
    ckey = spec.cache_key()
    if dataset is not None and dataset.fingerprint() != ckey.fields["data"]:
        raise ValueError(f"zoo.get: the dataset passed ({dataset!r}) is not the data the spec describes "
                         f"({spec.dataset}, {spec.data_kwargs}); drop dataset= to load it from the spec")
    key = ckey.digest
    path = root / key
    model = build_model(spec)
    if path.exists() and not retrain:
        entry = _load_or_move_aside(path, key, model, device)
        if entry is not None:
            return entry
    from .parallel import report

    # one process trains a key at a time; one that waited finds the entry the other wrote
    with _cache.key_lock(root, key, on_wait=lambda: report(f"waiting for another process to train "
                                                          f"{spec.arch}/{spec.regime} seed {spec.seed}")):
        if path.exists() and not retrain:
            entry = _load_or_move_aside(path, key, model, device)
            if entry is not None:
                return entry
        return _train_and_store(spec, ckey, root, device, dataset, progress)


def _load_or_move_aside(path: Path, key: str, model: nn.Module, device: torch.device) -> ZooEntry | None:
    """The intact entry at ``path``, or None after moving a corrupt one aside (never deleting it)."""
    try:
        meta = _load_entry(path, key, model)
        return ZooEntry(model.to(device).eval(), meta, path, loaded=True)
    except CorruptEntry as e:
        warnings.warn(f"zoo entry {path} is corrupt ({e}); moving it aside and retraining", stacklevel=3)
        try:
            _cache.move_aside(path, "corrupt")
        except FileNotFoundError:  # another process moved it aside first
            pass
    return None


def _train_and_store(spec: ModelSpec, ckey, root: Path, device: torch.device, dataset, progress: bool) -> ZooEntry:
    key = ckey.digest
    ds = dataset if dataset is not None else load_data(spec)
    if spec.extras is None:
        model, res = _train_entry(spec, lambda: build_model(spec), spec.make_regime(), ds, device=device,
                                  progress=progress)
    else:
        model, res = _train_entry_extras(spec, lambda: build_model(spec), spec.make_regime(), ds,
                                         _load_extras(spec, ds), device=device, progress=progress)
    meta = {
        "key": key, "spec": spec.canonical(), "cache_key": ckey.to_dict(), "test_acc": res.test_acc,
        "train_seconds": res.seconds,
        "train_loss": res.train_loss, "train_acc": res.train_acc, "device": str(device),
        "torch": torch.__version__, "dataset_description": getattr(ds, "description", ""),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = _write_entry(root, key, model, meta)
    return ZooEntry(model.to(device).eval(), json.loads((path / "meta.json").read_text()), path, loaded=False)


def _train_entry(spec: ModelSpec, make_model, regime, ds, *, device: torch.device, progress: bool):
    """Train a fresh model of ``spec``: the only code of this module that enters the model keys (:func:`train_code`);
    the architecture and the regime are passed in, built from their registries by the caller."""
    torch.manual_seed(spec.seed)
    model = make_model()  # created under the seed: initialisation is part of the spec
    if spec.init_weights:
        sd = _load_user_weights(_resolve(spec.init_weights))
        if hasattr(model, "load_pretrained"):
            model.load_pretrained(sd)
        else:
            model.load_state_dict(sd, strict=True)
    res = _train.fit(
        model, ds.x_train, ds.y_train, regime, epochs=spec.epochs, batch_size=spec.batch_size,
        optimizer=spec.optimizer, lr_schedule=spec.lr_schedule, seed=spec.seed, x_test=ds.x_test, y_test=ds.y_test,
        device=device, progress=progress, desc=f"{spec.arch}/{spec.regime}",
    )
    return model, res


def _train_entry_extras(spec: ModelSpec, make_model, regime, ds, extras: tuple[torch.Tensor, ...], *,
                        device: torch.device, progress: bool):
    """:func:`_train_entry` for a spec with ``extras`` (a separate function, so that adding extras kept the keys of
    every model trained without them: the key digests the code each entry point reaches)."""
    torch.manual_seed(spec.seed)
    model = make_model()
    if spec.init_weights:
        raise ValueError("a spec with extras cannot start from init_weights (not implemented)")
    res = _train.fit(
        model, ds.x_train, ds.y_train, regime, epochs=spec.epochs, batch_size=spec.batch_size,
        optimizer=spec.optimizer, lr_schedule=spec.lr_schedule, seed=spec.seed, x_test=ds.x_test, y_test=ds.y_test,
        extras=extras, device=device, progress=progress, desc=f"{spec.arch}/{spec.regime}",
    )
    return model, res


def _load_extras(spec: ModelSpec, ds) -> tuple[torch.Tensor, ...]:
    """The arrays of ``spec.extras`` from the results cache, checked against the training set's size."""
    import numpy as np

    name, digest, names = spec.extras["name"], spec.extras["digest"], list(spec.extras["arrays"])
    path = cache_dir() / "results" / f"{name}-{digest}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the extras of model {spec.arch}/{spec.regime} (seed {spec.seed}) are not "
                                "computed; compute them first (the chapter's code does, e.g. the interpretation "
                                "targets before the IR models)")
    with np.load(path, allow_pickle=False) as f:
        missing = [n for n in names if n not in f.files]
        if missing:
            raise KeyError(f"{path} has no array(s) {', '.join(missing)}; it holds {', '.join(f.files)}")
        out = tuple(torch.from_numpy(np.array(f[n])) for n in names)
    for n, a in zip(names, out):
        if a.shape[0] != ds.x_train.shape[0]:
            raise ValueError(f"{path}: array {n!r} has {a.shape[0]} rows for {ds.x_train.shape[0]} training images")
    return out


def train_code(spec: ModelSpec) -> tuple[str, ...]:
    """The code a model of ``spec`` depends on, as :func:`rilib.cache.code_digest` entries: the training entry
    point (:func:`_train_entry` and what it reaches: the loop, the user-weights loader), the architecture's class
    and the regime's class (each with the definitions it uses, through imports into other rilib modules). Adding
    an architecture or a regime, or changing one the spec does not use, keeps the key."""
    arch = _models.ARCHITECTURES.get(spec.arch)
    regime = REGIMES.get(spec.regime)
    if arch is None:
        raise ValueError(f"unknown architecture {spec.arch!r}; known: {', '.join(_models.ARCHITECTURES)}")
    if regime is None:
        raise ValueError(f"unknown regime {spec.regime!r}; known: {', '.join(REGIMES)}")
    entry = "rilib.zoo:_train_entry" if spec.extras is None else "rilib.zoo:_train_entry_extras,_load_extras"
    return (entry, f"{arch.__module__}:{arch.__qualname__}", f"{regime.__module__}:{regime.__qualname__}")


def is_cached(spec: ModelSpec) -> bool:
    """Whether ``spec`` has a finished entry in the cache (its weights are checked when :func:`get` loads it)."""
    return _has_entry(cache_dir(), spec.key)


def _train_job(spec: ModelSpec, device: str | None) -> str:
    get(spec, device=device, progress=False)
    return spec.key


def prefetch(specs: list[ModelSpec], *, device: str | None = None, progress: bool = True) -> int:
    """Train every spec of ``specs`` that has no cache entry yet, in parallel worker processes
    (:func:`rilib.parallel.map_jobs`, one per CPU core); returns how many were trained. Loading stays with
    :func:`get`, which also checks (and if need be retrains) the entries that exist."""
    from . import parallel

    root = cache_dir()
    todo = [s for k, s in {s.key: s for s in specs}.items() if not _has_entry(root, k)]
    if todo:
        parallel.map_jobs(_train_job, [(s, device) for s in todo], desc="train", progress=progress)
    return len(todo)


def cached_path(name: str, key: _cache.Key) -> Path:
    """Where :func:`cached_arrays` keeps the result called ``name`` with ``key`` (it may not exist yet)."""
    if not isinstance(key, _cache.Key):
        raise TypeError("cached results are keyed by rilib.cache.key(...), not a plain dict")
    return cache_dir() / "results" / f"{name}-{key.digest}.npz"


def cached_arrays(name: str, key: _cache.Key, compute, *, recompute: bool = False) -> dict[str, Any]:
    """Memoise an expensive evaluation (attacks, geometry over a cohort) next to the models.

    ``compute()`` must return a dict of numpy arrays / numbers; it is stored as ``<cache>/results/<name>-<digest>.npz``
    with the key's fields (written atomically, read with ``allow_pickle=False``). A damaged or half-written file, or
    one whose stored key differs, is recomputed. ``key`` comes from
    :func:`rilib.cache.key` and must hold everything the result depends on (model key, inputs, settings, code).
    """
    import io
    import zipfile
    import zlib

    import numpy as np

    path = cached_path(name, key)
    stored_key = _cache.canonical_json(key.to_dict())
    if path.exists() and not recompute:
        try:
            with np.load(path, allow_pickle=False) as f:
                if _KEY_FIELD not in f.files or str(f[_KEY_FIELD]) != stored_key:
                    raise ValueError("the key stored in the file is not the key asked for")
                return {k: (f[k].item() if f[k].ndim == 0 else f[k]) for k in f.files if k != _KEY_FIELD}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
            warnings.warn(f"cached result {path} is unreadable ({e}); recomputing", stacklevel=2)
    out = compute()
    arrays = {k: np.asarray(v) for k, v in out.items()}
    bad = [k for k, v in arrays.items() if v.dtype.hasobject]
    if bad or _KEY_FIELD in arrays:
        raise TypeError(f"cached_arrays({name!r}): compute() must return numeric arrays / numbers "
                        f"(not {', '.join(bad) or _KEY_FIELD})")
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{_KEY_FIELD: np.asarray(stored_key)})
    _cache.atomic_write(path, buf.getvalue())
    return out


#: the member of a cached ``.npz`` holding the key it was computed for (checked on load, not returned)
_KEY_FIELD = "__rilib_key__"
