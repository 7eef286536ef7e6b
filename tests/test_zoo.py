"""Zoo: train once, load after; corrupt entries are retrained (never loaded); keys follow every spec field."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from rilib import zoo


def _spec(**kw):
    base = dict(dataset="gaussian-toy", arch="toy_mlp", epochs=1, batch_size=100, seed=0, profile="ci",
                data_kwargs={"n_per_class": 200, "n_test_per_class": 50, "seed": 0})
    base.update(kw)
    return zoo.ModelSpec(**base)


def test_second_get_loads_the_same_weights(cache_root):
    spec = _spec()
    a = zoo.get(spec, device="cpu", progress=False)
    b = zoo.get(spec, device="cpu", progress=False)
    assert not a.loaded and b.loaded
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])
    meta = json.loads((cache_root / spec.key / "meta.json").read_text())
    assert meta["key"] == spec.key and 0.0 <= meta["test_acc"] <= 1.0 and meta["train_seconds"] > 0
    assert meta["spec"]["arch"] == "toy_mlp" and len(meta["train_loss"]) == 1


def test_training_is_reproducible_across_cache_wipes(cache_root, tmp_path, monkeypatch):
    spec = _spec()
    a = zoo.get(spec, device="cpu", progress=False)
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path / "other"))
    b = zoo.get(spec, device="cpu", progress=False)
    assert not b.loaded
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())


@pytest.mark.parametrize("damage", ["flip_bytes", "truncate", "delete_meta", "bad_json"])
def test_corrupt_entry_is_retrained_and_kept_aside(cache_root, damage):
    spec = _spec()
    first = zoo.get(spec, device="cpu", progress=False)
    entry = cache_root / spec.key
    w = entry / "model.safetensors"
    if damage == "flip_bytes":
        data = bytearray(w.read_bytes())
        data[-10] ^= 0xFF
        w.write_bytes(bytes(data))
    elif damage == "truncate":
        w.write_bytes(w.read_bytes()[:50])
    elif damage == "delete_meta":
        (entry / "meta.json").unlink()
    else:
        (entry / "meta.json").write_text("{not json")
    with pytest.warns(UserWarning, match="corrupt"):
        again = zoo.get(spec, device="cpu", progress=False)
    assert not again.loaded  # retrained, not loaded
    assert all(torch.equal(v, again.model.state_dict()[k]) for k, v in first.model.state_dict().items())
    assert list(cache_root.glob(f"{spec.key}.corrupt-*")), "the damaged entry is moved aside, not deleted"
    assert not list(cache_root.glob(".tmp-*")), "no temporary is left behind"
    assert zoo.get(spec, device="cpu", progress=False).loaded


def test_key_changes_when_any_field_changes():
    spec = _spec()
    changes = dict(arch="kim_cnn", regime="adversarial", epochs=2, seed=1, profile="default",
                   batch_size=64, data_kwargs={"n_per_class": 201}, arch_kwargs={"hidden": 64},
                   regime_kwargs={"eps": 0.5}, optimizer={"name": "sgd", "lr": 0.1}, lr_schedule={"step_size": 1})
    keys = {spec.key}
    for field, value in changes.items():
        k = dataclasses.replace(spec, **{field: value}).key
        assert k not in keys, field
        keys.add(k)
    # another dataset (its own options: the key holds the fingerprint of the data actually loaded)
    assert dataclasses.replace(spec, dataset="mnist", data_kwargs={"n_train": 20, "n_test": 10}).key not in keys
    assert _spec().key == spec.key  # and is stable


def test_key_depends_on_the_training_code(monkeypatch):
    from rilib import cache as rcache

    spec = _spec()
    k = spec.key
    real = rcache.code_digest
    # a logic edit of the training code changes its digest (tests/test_cache.py edits a real module)
    monkeypatch.setattr(rcache, "code_digest",
                        lambda mods: real(mods) + ("-edited" if any(m.startswith("rilib.train") for m in mods) else ""))
    assert spec.key != k
    monkeypatch.setattr(rcache, "code_digest", real)
    real_code = zoo.train_code
    monkeypatch.setattr(zoo, "train_code", lambda s: (*real_code(s), "rilib.search"))
    assert spec.key != k


def test_unknown_regime_and_arch_are_clear_errors(cache_root):
    with pytest.raises(ValueError, match="unknown regime"):
        zoo.get(_spec(regime="magic"), device="cpu", progress=False)
    with pytest.raises(ValueError, match="unknown architecture"):
        zoo.get(_spec(arch="magic"), device="cpu", progress=False)


def test_init_weights_are_loaded_safely(cache_root, tmp_path):
    from rilib import models

    m = models.build("toy_mlp")
    torch.save(m.state_dict(), tmp_path / "w.pt")
    spec = _spec(init_weights=str(tmp_path / "w.pt"), epochs=1)
    assert zoo.get(spec, device="cpu", progress=False).model is not None
    (tmp_path / "evil.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="weights_only=True"):
        zoo.get(_spec(init_weights=str(tmp_path / "evil.pt")), device="cpu", progress=False)


def test_cached_arrays_compute_once_and_survive_damage(cache_root):
    import numpy as np

    calls = []

    def compute():
        calls.append(1)
        return {"a": np.arange(3.0), "n": 7}

    from rilib import cache as rcache

    k = rcache.key("demo", spec={"n": 3}, model="abc")
    r1 = zoo.cached_arrays("demo", k, compute)
    (stored,) = list((cache_root / "results").glob("demo-*.npz"))
    r2 = zoo.cached_arrays("demo", k, compute)
    assert len(calls) == 1 and np.array_equal(r1["a"], r2["a"]) and r2["n"] == 7
    zoo.cached_arrays("demo", rcache.key("demo", spec={"n": 4}, model="abc"), compute)
    assert len(calls) == 2  # another key, another computation
    stored.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        r3 = zoo.cached_arrays("demo", k, compute)
    assert len(calls) == 3 and np.array_equal(r3["a"], r1["a"])
    assert zoo.cached_arrays("demo", k, compute)["n"] == 7 and len(calls) == 3


def test_prefetch_trains_missing_specs_in_workers_and_get_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path))
    monkeypatch.setenv("RILIB_WORKERS", "2")
    specs = [zoo.ModelSpec(dataset="gaussian-toy", arch="toy_mlp", regime="ce", epochs=1, batch_size=50, seed=s,
                           profile="test", data_kwargs={"n_per_class": 100, "n_test_per_class": 20, "seed": 0})
             for s in (0, 1)]
    assert zoo.prefetch(specs + specs[:1], progress=False) == 2  # duplicates trained once
    assert zoo.prefetch(specs, progress=False) == 0
    entries = [zoo.get(s, device="cpu") for s in specs]
    assert all(e.loaded for e in entries)
    assert entries[0].meta["key"] != entries[1].meta["key"]
