"""CIFAR-10 from the python-pickle batches, read with a restricted unpickler."""
from __future__ import annotations

import importlib
import io
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .container import (
    DataFormatError,
    Dataset,
    PathLike,
    _bad_file,
    _folder,
    _not_found,
    _to_image_tensor,
    _to_labels,
    data_root,
)

__all__ = ["CIFAR10_CLASSES", "load_cifar10"]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"
_CIFAR_META = "batches.meta"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------
def _import_first(candidates: tuple[tuple[str, str], ...]) -> Any:
    for module, name in candidates:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    return None  # pragma: no cover - some candidate exists in every supported numpy


def _cifar_allowed() -> dict[tuple[str, str], Any]:
    import _codecs

    reconstruct = _import_first((("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct")))
    frombuffer = _import_first((("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer")))
    allowed: dict[tuple[str, str], Any] = {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _codecs.encode,
    }
    if frombuffer is not None:  # what numpy writes for arrays under pickle protocol 5
        allowed[("numpy.core.numeric", "_frombuffer")] = frombuffer
        allowed[("numpy._core.numeric", "_frombuffer")] = frombuffer
    return allowed


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that only builds what a CIFAR-10 batch contains.

    Plain containers, bytes, str and ints need no globals; of the globals, only numpy's array
    reconstruction helpers, ``numpy.ndarray``, ``numpy.dtype`` and ``_codecs.encode`` are
    admitted. Anything else (``os.system``, ``builtins.eval``, ...) is refused before it is
    looked up, so it can never run.
    """

    def __init__(self, file: io.BufferedIOBase, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self._path = path
        self._allowed = _cifar_allowed()

    def find_class(self, module: str, name: str) -> Any:
        obj = self._allowed.get((module, name))
        if obj is None:
            raise DataFormatError(
                f"refusing to unpickle {module}.{name} from {self._path}: not a CIFAR-10 batch. "
                "Replace the file with one from the official CIFAR-10 python archive."
            )
        return obj


def _unpickle_cifar(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            return _CifarUnpickler(fh, path).load()
    except DataFormatError:
        raise
    except FileNotFoundError:
        raise
    except Exception as exc:  # any unpickling failure of untrusted bytes is a format error
        raise _bad_file(path, f"is not a readable CIFAR-10 pickle ({type(exc).__name__}: {exc})") from exc


def _get(d: Mapping[Any, Any], key: str) -> Any:
    if key.encode() in d:
        return d[key.encode()]
    return d.get(key)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    obj = _unpickle_cifar(path)
    if not isinstance(obj, dict):
        raise _bad_file(path, f"is not a CIFAR-10 batch: top-level object is {type(obj).__name__}, not dict")
    data, labels = _get(obj, "data"), _get(obj, "labels")
    if data is None or labels is None:
        raise _bad_file(path, f"is not a CIFAR-10 batch: keys {sorted(map(repr, obj))} lack b'data' and/or b'labels'")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise _bad_file(path, f"b'data' must be a uint8 array of shape (N, 3072), got {desc}")
    try:
        y = np.asarray(labels)
    except Exception as exc:  # pragma: no cover - defensive
        raise _bad_file(path, f"b'labels' is not a list of ints ({exc})") from exc
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise _bad_file(path, f"b'labels' must be a flat list of ints, got {y.dtype} {y.shape}")
    if y.shape[0] != data.shape[0]:
        raise _bad_file(path, f"holds {data.shape[0]} images but {y.shape[0]} labels")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise _bad_file(path, f"labels must be in 0..9, found {int(y.min())}..{int(y.max())}")
    return data.reshape(-1, 3, 32, 32), y.astype(np.int64)


def _cifar_classes(folder: Path) -> tuple[str, ...]:
    meta_path = folder / _CIFAR_META
    if not meta_path.is_file():
        return CIFAR10_CLASSES
    obj = _unpickle_cifar(meta_path)
    names = _get(obj, "label_names") if isinstance(obj, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise _bad_file(meta_path, "b'label_names' must be a list of 10 class names")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def load_cifar10(*, root: PathLike | None = None) -> Dataset:
    """Load CIFAR-10 (Krizhevsky 2009) from the python-pickle version.

    The folder must contain ``data_batch_1`` … ``data_batch_5`` and ``test_batch`` (and
    optionally ``batches.meta``), as extracted from ``cifar-10-python.tar.gz``. Every file is
    read with a restricted unpickler that admits only dicts, lists, bytes, str, ints and numpy
    arrays, so a tampered file cannot execute code.

    Parameters
    ----------
    root : path, optional
        The ``cifar-10-batches-py`` folder, or a folder containing it.
        Default ``data_root() / "cifar-10-batches-py"``.

    Returns
    -------
    Dataset
        Images ``(N, 3, 32, 32)`` float32 in [0, 1] (50 000 / 10 000 for the real data).

    Raises
    ------
    DataNotFoundError
        The folder or one of its batch files is missing.
    DataFormatError
        A file is not a CIFAR-10 batch (wrong shapes, wrong keys, or forbidden pickle content).
    """
    folder = _folder(root, _CIFAR_FOLDER)
    searched = [folder]
    if root is not None and not (folder / _CIFAR_TEST).is_file() and (folder / _CIFAR_FOLDER).is_dir():
        folder = folder / _CIFAR_FOLDER
        searched.append(folder)
    how = (
        f"Download {_CIFAR_URL} elsewhere and extract it into {data_root()} so that "
        f"{data_root() / _CIFAR_FOLDER} holds data_batch_1 … data_batch_5 and test_batch."
    )
    if not folder.is_dir():
        raise _not_found("CIFAR-10", searched, how)
    missing = [n for n in (*_CIFAR_TRAIN, _CIFAR_TEST) if not (folder / n).is_file()]
    if missing:
        raise _not_found("CIFAR-10", searched, f"{folder} lacks {', '.join(missing)}. {how}")
    train = [_read_cifar_batch(folder / n) for n in _CIFAR_TRAIN]
    xte, yte = _read_cifar_batch(folder / _CIFAR_TEST)
    xtr = np.concatenate([x for x, _ in train])
    ytr = np.concatenate([y for _, y in train])
    return Dataset(
        name="cifar10",
        x_train=_to_image_tensor(xtr),
        y_train=_to_labels(ytr),
        x_test=_to_image_tensor(xte),
        y_test=_to_labels(yte),
        classes=_cifar_classes(folder),
        bounds=(0.0, 1.0),
        source=str(folder),
        description=f"CIFAR-10: the python batches in {folder}, official split, {len(ytr)} train / {len(yte)} test images of 32×32.",
        meta={"variant": "python-batches"},
    )
