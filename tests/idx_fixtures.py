"""Writers of small fixture files in the real IDX format (MNIST / Fashion-MNIST), shared by the tests."""
from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    code = IDX_CODES[arr.dtype.type]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, arr: np.ndarray) -> Path:
    """Write ``arr`` as an IDX file (gzipped when the name ends in .gz), through a temporary name and a rename, as a
    copy would (a rewrite gets a new inode)."""
    payload = idx_bytes(arr)
    part = path.with_name(path.name + ".part")
    if path.name.endswith(".gz"):
        with gzip.open(part, "wb") as fh:
            fh.write(payload)
    else:
        part.write_bytes(payload)
    os.replace(part, path)
    return path


def write_mnist_folder(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = False,
                       seed: int = 1) -> dict[str, np.ndarray]:
    """The four MNIST IDX files with random images and cyclic labels; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        write_idx(folder / (name + (".gz" if gz else "")), arr)
    return arrays
