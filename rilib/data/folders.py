"""Image folders (ImageNet, ImageNette, ...), scanned with torchvision's ImageFolder and read lazily.

:func:`load_image_folder` only lists the files; its ``x_train`` / ``x_test`` are :class:`LazyImages`, which decode
an image (PIL → RGB → resize the shorter side → centre crop → ``ToTensor``) only when it is indexed. A dataset as
large as ImageNet therefore costs one path per image in memory, and ``x[idx]``, ``x[i:j]`` or ``ds.x_test[:n]``
return ordinary float32 tensors of just those images.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .container import DataNotFoundError, Dataset, PathLike, _bad_file, _not_found

__all__ = ["IMAGE_EXTENSIONS", "LazyImages", "load_image_folder"]

#: Image file suffixes accepted by :func:`load_image_folder` (compared case-insensitively).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png"})

#: What every image goes through (recorded in :meth:`LazyImages.transform_settings` and so in fingerprints).
_TRANSFORM = "PIL convert('RGB') -> Resize(size) of the shorter side -> CenterCrop(size) -> ToTensor (float32 in [0, 1])"


# --------------------------------------------------------------------------------------------
# Reading one image
# --------------------------------------------------------------------------------------------
def _open_rgb(path: str | Path) -> Any:
    """The loader given to ImageFolder: the image at ``path`` as an RGB PIL image; clear errors for broken files."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except FileNotFoundError as exc:
        raise DataNotFoundError(
            f"{path}: this image was listed when its folder was scanned but is gone now. "
            "Load the image folder again (rilib.data.load_image_folder) after changing its files."
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _bad_file(
            path, f"is not a readable image ({type(exc).__name__}: {exc})", "Replace or delete the file."
        ) from exc


@functools.lru_cache(maxsize=16)
def _transform(size: int) -> Any:
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()])


def _read_image(path: Path, size: int) -> torch.Tensor:
    return _transform(size)(_open_rgb(path)).to(torch.float32)


# --------------------------------------------------------------------------------------------
# The lazy tensor
# --------------------------------------------------------------------------------------------
class LazyImages:
    """Images on disk that behave like a read-only float32 tensor of shape ``(N, 3, size, size)``.

    Holding one is cheap: it knows the folder, the relative paths of its ``N`` files and ``size``; no image is
    decoded until it is indexed. Indexing loads just the requested images and returns a real :class:`torch.Tensor`:

    * ``x[i]`` (an int) → ``(3, size, size)``;
    * ``x[i:j:k]``, ``x[[i, j]]``, ``x[index_tensor]``, ``x[bool_mask]`` → ``(n, 3, size, size)``;
    * ``x[rows, ...more]`` → the rows, then ``more`` applied to them (``x[2, 0]`` is the red channel of image 2).

    So ``rilib.train.fit``'s ``x[idx].to(device)``, ``rilib.train.evaluate``'s ``x[i:i + bs]`` and
    ``ds.x_test[:n]`` work as on a tensor. :meth:`take` gives a lazy subset (what :meth:`Dataset.subset` uses),
    :meth:`clone` a lazy copy. Iterating yields one image at a time. :meth:`materialize`, :meth:`to` and torch
    functions called on the whole object (``torch.equal(x, y)``, ``torch.cat([x])``) load **every** image: fine
    for a small folder, too much memory for ImageNet — index first.

    Each image is read with PIL, converted to RGB, its shorter side resized to ``size``, centre-cropped to
    ``size × size`` and turned into float32 in [0, 1] by ``torchvision.transforms.ToTensor``.

    Parameters
    ----------
    root : path
        The image folder; ``files`` are relative to it.
    files : sequence of str
        Paths relative to ``root`` (POSIX separators), one per image, in order.
    size : int
        Output height and width.
    """

    is_lazy = True  # read by rilib.data.container: reads images on indexing, has take() and content_digest()
    dtype = torch.float32
    ndim = 4
    device = torch.device("cpu")

    def __init__(self, root: PathLike, files: Sequence[str], size: int) -> None:
        self.root = Path(root)
        self.files: tuple[str, ...] = tuple(str(f) for f in files)
        self.image_size = int(size)
        if self.image_size < 1:
            raise ValueError(f"size must be >= 1, got {size}")

    # --- what a tensor reports -----------------------------------------------------------
    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.files), 3, self.image_size, self.image_size))

    def size(self, dim: int | None = None) -> torch.Size | int:
        """``shape``, or ``shape[dim]`` (as :meth:`torch.Tensor.size`)."""
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return len(self.files) * 3 * self.image_size * self.image_size

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"LazyImages({len(self.files)} images of 3×{self.image_size}×{self.image_size} in {self.root})"

    @property
    def paths(self) -> list[Path]:
        """The absolute file of every image, in order."""
        return [self.root / f for f in self.files]

    # --- loading --------------------------------------------------------------------------
    def _load(self, i: int) -> torch.Tensor:
        return _read_image(self.root / self.files[i], self.image_size)

    def _load_many(self, indices: Sequence[int]) -> torch.Tensor:
        out = torch.empty((len(indices), 3, self.image_size, self.image_size), dtype=torch.float32)
        for k, i in enumerate(indices):
            out[k] = self._load(i)
        return out

    def _rows(self, key: Any) -> tuple[list[int] | int, tuple[int, ...] | None]:
        """Row indices selected by ``key`` (an int for a single row) and the shape of an index array, if any."""
        n = len(self.files)
        if isinstance(key, torch.Tensor) and key.ndim == 0 and key.dtype != torch.bool:
            key = int(key)
        if isinstance(key, np.ndarray) and key.ndim == 0 and key.dtype != np.bool_:
            key = int(key)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for dimension 0 with size {n}")
            return i % n, None
        if isinstance(key, slice):
            return list(range(*key.indices(n))), None
        if isinstance(key, (list, range, np.ndarray, torch.Tensor)):
            if isinstance(key, torch.Tensor):
                arr = key.detach().cpu().numpy()
            else:
                arr = np.asarray(list(key) if isinstance(key, range) else key)
            if arr.dtype == np.bool_:
                if arr.shape != (n,):
                    raise IndexError(f"boolean mask of shape {arr.shape} does not match {n} images")
                return np.flatnonzero(arr).tolist(), None
            if arr.size == 0:
                return [], (0,)
            if not np.issubdtype(arr.dtype, np.integer):
                raise IndexError(f"tensors used as indices must be long, int or bool, got {arr.dtype}")
            flat = arr.reshape(-1).astype(np.int64)
            bad = flat[(flat < -n) | (flat >= n)]
            if bad.size:
                raise IndexError(f"index {int(bad[0])} is out of bounds for dimension 0 with size {n}")
            return (flat % n).tolist() if n else [], arr.shape
        raise TypeError(f"LazyImages cannot be indexed with {type(key).__name__}")

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, tuple):
            if not key:
                return self.materialize()
            first, rest = key[0], key[1:]
            if first is Ellipsis or first is None:
                return self.materialize()[key]
            selected = self[first]
            if not rest:
                return selected
            # the leading dimensions that ``first`` produced stay; ``rest`` indexes the image dimensions
            lead = selected.ndim - 3
            return selected[(slice(None),) * lead + rest]
        if key is Ellipsis:
            return self.materialize()
        rows, index_shape = self._rows(key)
        if isinstance(rows, int):
            return self._load(rows)
        out = self._load_many(rows)
        if index_shape is not None and len(index_shape) != 1:
            out = out.reshape(*index_shape, *out.shape[1:])
        return out

    def __iter__(self) -> Iterator[torch.Tensor]:
        for i in range(len(self.files)):
            yield self._load(i)

    def materialize(self) -> torch.Tensor:
        """Every image as one ``(N, 3, size, size)`` tensor (reads all files)."""
        return self._load_many(range(len(self.files)))

    def to(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """:meth:`materialize`, then :meth:`torch.Tensor.to` (reads all files; index first on large folders)."""
        return self.materialize().to(*args, **kwargs)

    def numpy(self) -> np.ndarray:
        """:meth:`materialize` as a numpy array (reads all files)."""
        return self.materialize().numpy()

    def take(self, indices: Any) -> LazyImages:
        """A lazy subset: the images at ``indices`` (anything :meth:`__getitem__` accepts for rows), unread."""
        rows, _ = self._rows(indices)
        rows = [rows] if isinstance(rows, int) else rows
        return LazyImages(self.root, [self.files[i] for i in rows], self.image_size)

    def clone(self) -> LazyImages:
        """A lazy copy (the images on disk are not read or copied)."""
        return LazyImages(self.root, self.files, self.image_size)

    # --- fingerprint ----------------------------------------------------------------------
    def transform_settings(self) -> dict[str, Any]:
        """The settings that turn a file into a tensor (part of :meth:`content_digest`)."""
        return {"size": self.image_size, "transform": _TRANSFORM}

    def content_digest(self) -> str:
        """SHA-256 of what these images are, without reading any of them.

        Digested: :meth:`transform_settings`; the sorted list of ``(path relative to root, size in bytes,
        mtime_ns)`` of the files (from ``os.stat``); and the order in which this object holds them. Changing,
        replacing or touching a file changes the digest; so does a copy that does not preserve modification times.
        """
        entries = []
        for rel in self.files:
            path = self.root / rel
            try:
                st = os.stat(path)
            except FileNotFoundError as exc:
                raise DataNotFoundError(
                    f"{path}: this image was listed when its folder was scanned but is gone now. "
                    "Load the image folder again (rilib.data.load_image_folder) after changing its files."
                ) from exc
            entries.append((rel, int(st.st_size), int(st.st_mtime_ns)))
        order = sorted(range(len(entries)), key=lambda i: entries[i][0])
        h = hashlib.sha256()
        h.update(json.dumps(self.transform_settings(), sort_keys=True).encode())
        h.update(json.dumps([entries[i] for i in order]).encode())
        h.update(json.dumps(order).encode())
        return h.hexdigest()

    # --- torch functions on the whole object ------------------------------------------------
    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        """``torch.f(lazy, ...)`` runs ``f`` on the materialised images (reads every file)."""

        def real(a: Any) -> Any:
            if isinstance(a, LazyImages):
                return a.materialize()
            if isinstance(a, (list, tuple)):
                return type(a)(real(b) for b in a)
            return a

        return func(*real(tuple(args)), **{k: real(v) for k, v in (kwargs or {}).items()})

    def __getstate__(self) -> dict[str, Any]:
        return {"root": str(self.root), "files": self.files, "image_size": self.image_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.root, self.files, self.image_size = Path(state["root"]), tuple(state["files"]), int(state["image_size"])


# --------------------------------------------------------------------------------------------
# Scanning a folder
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _image_folder_class() -> type:
    """torchvision's ImageFolder, with rilib's conventions for what a class folder is (hidden folders skipped)."""
    from torchvision.datasets import ImageFolder

    class _ClassFolders(ImageFolder):
        def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
            names = sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))
            if not names:
                raise FileNotFoundError(f"no class folder in {directory}")
            return names, {name: i for i, name in enumerate(names)}

    return _ClassFolders


def _class_dirs(folder: Path, size: int = 1) -> dict[str, list[Path]]:
    """``{class name: sorted image files}`` for the class sub-folders of ``folder`` that hold images.

    Scanned with :class:`torchvision.datasets.ImageFolder` (no image is opened). An image file sits directly in a
    non-hidden class folder, is not hidden and ends in one of :data:`IMAGE_EXTENSIONS`; other files, hidden files
    and nested folders are ignored, and class folders without images are dropped.
    """

    def is_image(p: str) -> bool:
        path = Path(p)
        return (path.parent.parent == folder and not path.name.startswith(".")
                and path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file())

    try:
        scanned = _image_folder_class()(
            str(folder), transform=_transform(size), loader=_open_rgb, is_valid_file=is_image, allow_empty=True
        )
    except FileNotFoundError:
        return {}
    out: dict[str, list[Path]] = {}
    for path, label in scanned.samples:
        out.setdefault(scanned.classes[label], []).append(Path(path))
    return {c: sorted(files) for c, files in sorted(out.items())}


def load_image_folder(
    path: PathLike,
    *,
    size: int = 224,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_per_class: int | None = None,
) -> Dataset:
    """Load images stored one folder per class (ImageNet, ImageNette, ...), lazily.

    Two layouts are recognised:

    * ``path/train/<class>/*`` and ``path/val/<class>/*``: these splits are used as they are;
    * ``path/<class>/*``: each class is split with a ``numpy.random.default_rng(seed)``
      permutation, ``round(test_fraction * n)`` images of a class going to the test split.

    Image files end in ``.jpg``, ``.jpeg`` or ``.png`` (any case); other files, hidden files
    and nested folders are ignored. The folders are scanned with
    :class:`torchvision.datasets.ImageFolder`, but no image is read here: ``x_train`` and
    ``x_test`` are :class:`LazyImages`, which decode an image when it is indexed. Each image is
    then converted to RGB, its shorter side resized to ``size`` and centre-cropped to
    ``size × size`` (``torchvision.transforms``), as float32 in [0, 1].

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
        permutation), to bound the time spent on large datasets.

    Returns
    -------
    Dataset
        ``x_train`` / ``x_test``: :class:`LazyImages` of shape ``(N, 3, size, size)``, float32 in
        [0, 1] when indexed; labels in memory; classes are the sorted folder names.

    Raises
    ------
    DataNotFoundError
        The folder is missing or holds no images in the expected layout.
    DataFormatError
        When an image is indexed and its file cannot be decoded (the message names it).
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
        train_classes, val_classes = _class_dirs(train_dir, size), _class_dirs(val_dir, size)
        if not train_classes or not val_classes:
            raise _not_found("Image folder", [train_dir, val_dir], f"No images found in class folders. {layout}")
        classes = tuple(sorted(set(train_classes) | set(val_classes)))
        train_files = {c: capped(f) for c, f in train_classes.items()}
        test_files = {c: capped(f) for c, f in val_classes.items()}
        how = "the train/ and val/ folders"
    else:
        per_class = _class_dirs(root, size)
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

    def gather(split: dict[str, list[Path]]) -> tuple[list[str], list[int]]:
        files: list[str] = []
        labels: list[int] = []
        for label, c in enumerate(classes):
            files += [f.relative_to(root).as_posix() for f in split.get(c, [])]
            labels += [label] * len(split.get(c, []))
        return files, labels

    tr_files, tr_labels = gather(train_files)
    te_files, te_labels = gather(test_files)
    cap = "" if max_per_class is None else f", at most {max_per_class} per class"
    return Dataset(
        name="imagefolder",
        x_train=LazyImages(root, tr_files, size),
        y_train=torch.tensor(tr_labels, dtype=torch.int64),
        x_test=LazyImages(root, te_files, size),
        y_test=torch.tensor(te_labels, dtype=torch.int64),
        classes=classes,
        bounds=(0.0, 1.0),
        source=str(root),
        description=(
            f"Image folder {root}: {len(classes)} classes, {len(tr_files)} train / {len(te_files)} test "
            f"images resized and centre-cropped to {size}×{size}, split by {how}{cap}; read lazily."
        ),
        meta={"size": size, "variant": "image-folder"},
    )
