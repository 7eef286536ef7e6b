"""ROAR / KAR retraining (Hooker et al. 2019; Kim et al. 2019 Sec 3.2, appendix B.3): a fresh network per
(attribution, ROAR/KAR, fraction, repeat), trained on the occluded training set and tested on the occluded test set.

The masks, occlusion, curves and scores are :mod:`rilib.evaluation.roar` (methods floor); this module (store floor)
runs the retrainings: the one training loop (:func:`rilib.train.fit` with :class:`rilib.train.CrossEntropy`), the
architectures of :func:`rilib.models.build`, each retraining cached with :func:`rilib.zoo.cached_arrays` under a
:func:`rilib.cache.key` holding all settings, the SHA-256 of the data and of the attribution maps, and the logic of
the code it runs (:func:`retrain_code`). The retrainings are independent jobs for :func:`rilib.parallel.map_jobs`;
the data and the pixel ranks are written once per call to a temporary folder in the cache (``.tmp-<pid>…``, removed
at the end, swept if the run is killed) and every worker reads each file once, so no job carries tensors.
"""
from __future__ import annotations

import functools
import math
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from . import cache as _cache
from . import models as _models
from . import train as _train
from . import parallel, zoo
from .evaluation.roar import (FRACTIONS, MODES, _as_image_mask, _check_mode, apply_mask, channel_mean,
                              mask_from_ranks, n_removed, pixel_ranks)

__all__ = ["retrain_curve", "evaluate_roar_kar", "retrain_code"]


def retrain_code(arch: str) -> tuple[str, ...]:
    """The code a retraining depends on (:func:`rilib.cache.code_digest` entries): the retraining job, the pixel
    ranking that runs before it in the calling process (its output is not hashed) and the retrained architecture's
    class, with everything they reach."""
    cls = _models.ARCHITECTURES.get(arch)
    if cls is None:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(_models.ARCHITECTURES)}")
    return (f"{__name__}:_retrain_job,evaluate_roar_kar", "rilib.evaluation.roar:pixel_ranks",
            f"{cls.__module__}:{cls.__qualname__}")

def _as_maps(scores: Tensor, x: Tensor, what: str) -> Tensor:
    """Attribution maps of ``x`` as (B, 1, H, W) / (B, C, H, W) / (B, D) on the CPU."""
    if scores.shape[0] != x.shape[0]:
        raise ValueError(f"{what}: {scores.shape[0]} attribution maps for {x.shape[0]} images")
    return _as_image_mask(scores.detach().cpu(), x)


def _retrain(x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, ranks_train: Tensor,
             ranks_test: Tensor, fraction: float, mode: str, seed: int, cfg: Mapping[str, Any], fill: list[float],
             device: str | None, label: str = "") -> dict[str, Any]:
    """One retraining: occlude train and test sets by their ranks, train a fresh ``cfg["arch"]``, test it."""
    xtr = apply_mask(x_train, mask_from_ranks(ranks_train, fraction, mode=mode), fill)
    xte = apply_mask(x_test, mask_from_ranks(ranks_test, fraction, mode=mode), fill)
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    model = _models.build(cfg["arch"], **cfg["arch_kwargs"])
    res = _train.fit(model, xtr, y_train, _train.CrossEntropy(), epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                     optimizer=cfg["optimizer"], lr_schedule=cfg["lr_schedule"], seed=seed, x_test=xte, y_test=y_test,
                     device=dev, progress=False, desc=f"{label} {mode} {fraction:g} seed {seed}".strip())
    return {"test_acc": float(res.test_acc), "train_acc": float(res.train_acc[-1]) if res.train_acc else math.nan,
            "seconds": float(res.seconds)}


@functools.lru_cache(maxsize=16)
def _load_staged(path: str) -> Tensor:
    """A staged array, read once per process (the staging folder of a call is unique, so never stale)."""
    return torch.from_numpy(np.load(path, allow_pickle=False))


def _retrain_job(name: str, key: _cache.Key, paths: Mapping[str, str], fraction: float, mode: str, seed: int,
                 cfg: Mapping[str, Any], fill: list[float], device: str | None, label: str) -> str:
    """Worker job: one cached retraining from the staged data and ranks; returns a progress label."""
    def compute() -> dict[str, Any]:
        t = {k: _load_staged(p) for k, p in paths.items()}
        return _retrain(t["x_train"], t["y_train"], t["x_test"], t["y_test"], t["ranks_train"].long(),
                        t["ranks_test"].long(), fraction, mode, seed, cfg, fill, device, label)

    out = zoo.cached_arrays(name, key, compute)
    tail = f" {mode} {fraction:g} seed {seed} acc {out['test_acc']:.3f}"
    return label[:max(1, 60 - len(tail))] + tail  # map_jobs shows results of at most 60 characters


def _rank_dtype(n: int) -> np.dtype:
    return np.dtype(np.int16) if n <= np.iinfo(np.int16).max else np.dtype(np.int32)


def evaluate_roar_kar(
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    attributions: Mapping[str, tuple[Tensor, Tensor]],
    *,
    arch: str,
    epochs: int,
    arch_kwargs: Mapping[str, Any] | None = None,
    batch_size: int = 100,
    optimizer: Mapping[str, Any] | None = None,
    lr_schedule: Mapping[str, Any] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    fractions: Sequence[float] = FRACTIONS,
    modes: Sequence[str] = MODES,
    fill: float | Sequence[float] | None = None,
    tie_seed: int = 0,
    noise: float = 1e-8,
    device: str | None = None,
    progress: bool = True,
    desc: str = "roar/kar",
    name: str = "roar",
) -> dict[str, dict[str, np.ndarray]]:
    """Retrain a fresh network per (attribution, ROAR/KAR, fraction, repeat) and return its test accuracies.

    Parameters
    ----------
    x_train, y_train, x_test, y_test
        The unoccluded data (images (N, C, H, W) or vectors (N, D)).
    attributions
        ``{name: (train_maps, test_maps)}``: each evaluated model's attribution of every training and test image
        (Kim et al. occlude both with the evaluated model's maps), (N, 1, H, W), (N, H, W) or the shape of the
        images, e.g. from :func:`rilib.attribution.attribute`; the random baseline is one more entry (its maps from
        ``method="random"``). Entries with equal maps share their retrainings.
    arch, arch_kwargs, epochs, batch_size, optimizer, lr_schedule
        The retrained network (:func:`rilib.models.build`) and its training (:func:`rilib.train.fit`,
        cross-entropy; default optimizer Adam, lr 1e-3).
    seeds
        One repeat per seed (initialisation and data order); Kim et al. average 3.
    fractions, modes
        The fractions removed (Kim et al.: 0.1 … 0.9) and ``"roar"`` / ``"kar"``.
    fill
        The value of removed pixels, one per channel; default the per-channel mean of ``x_train``.
    tie_seed, noise
        Ties broken by uniform noise in [0, ``noise``) from a generator seeded with ``tie_seed`` (the training
        maps drawn first, then the test maps; the same ranks serve all fractions and both modes).
    device
        Where to train (default CUDA when available). Not part of the cache key.
    name
        The cached results are ``<cache>/results/<name>-<digest>.npz``.

    Returns
    -------
    dict
        ``{attribution name: {mode: accuracies}}`` with accuracies of shape (len(seeds), len(fractions)) — average
        over axis 0 for the paper's curve (:func:`full_curve` and :func:`roar_kar_scores` do).

    Every retraining is cached (:func:`rilib.zoo.cached_arrays`); the missing ones run as jobs of
    :func:`rilib.parallel.map_jobs` (one worker per CPU core, ``$RILIB_WORKERS``) with a progress line each.
    """
    modes = tuple(_check_mode(m) for m in modes)
    fractions = tuple(float(f) for f in fractions)
    for f in fractions:
        n_removed(f, 1)  # validates the range
    seeds = tuple(int(s) for s in seeds)
    x_train, x_test = x_train.detach().cpu(), x_test.detach().cpu()
    y_train, y_test = y_train.detach().cpu(), y_test.detach().cpu()
    fill_values = channel_mean(x_train) if fill is None else [float(v) for v in np.atleast_1d(np.asarray(fill))]
    maps = {a: (_as_maps(tr, x_train, f"{a} (train)"), _as_maps(te, x_test, f"{a} (test)"))
            for a, (tr, te) in attributions.items()}
    cfg = {"arch": arch, "arch_kwargs": dict(arch_kwargs or {}), "epochs": int(epochs), "batch_size": int(batch_size),
           "optimizer": dict(optimizer or {"name": "adam", "lr": 1e-3}),
           "lr_schedule": dict(lr_schedule) if lr_schedule else None}
    settings = dict(cfg, fill=fill_values, tie_seed=int(tie_seed), noise=float(noise))
    data = {"sha256": _cache.tensor_digest(x_train, y_train, x_test, y_test)}
    digests = {a: _cache.tensor_digest(*m) for a, m in maps.items()}

    def job_key(a: str, mode: str, fraction: float, seed: int) -> _cache.Key:
        return _cache.key("roar", spec=dict(settings, mode=mode, fraction=fraction, seed=seed), data=data,
                          code=retrain_code(arch), attributions=digests[a])

    keys = {(a, mode, f, s): job_key(a, mode, f, s) for a in maps for mode in modes for f in fractions for s in seeds}

    @functools.lru_cache(maxsize=None)
    def ranks(a: str) -> tuple[Tensor, Tensor]:
        g = torch.Generator().manual_seed(int(tie_seed))
        return pixel_ranks(maps[a][0], generator=g, noise=noise), pixel_ranks(maps[a][1], generator=g, noise=noise)

    todo: dict[str, tuple[str, str, float, int]] = {}
    for job, k in keys.items():
        if k.digest not in todo and not zoo.cached_path(name, k).exists():
            todo[k.digest] = job
    if todo:
        stage = Path(tempfile.mkdtemp(prefix=_cache._tmp_prefix(f"{name}-stage"), dir=_cache.cache_dir()))
        try:
            paths: dict[str, str] = {}
            for part, t in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)):
                paths[part] = str(stage / f"{part}.npy")
                np.save(paths[part], t.numpy())
            for a in sorted({job[0] for job in todo.values()}):
                n = maps[a][0][0].numel()
                for part, r in zip(("ranks_train", "ranks_test"), ranks(a)):
                    paths[f"{a}/{part}"] = str(stage / f"{digests[a]}-{part}.npy")
                    np.save(paths[f"{a}/{part}"], r.numpy().astype(_rank_dtype(n)))
            jobs = []
            for a, mode, f, s in todo.values():
                p = {k: paths[k] for k in ("x_train", "y_train", "x_test", "y_test")}
                p.update(ranks_train=paths[f"{a}/ranks_train"], ranks_test=paths[f"{a}/ranks_test"])
                jobs.append((name, keys[(a, mode, f, s)], p, f, mode, s, cfg, fill_values, device, a))
            parallel.map_jobs(_retrain_job, jobs, desc=desc, progress=progress)
        finally:
            _load_staged.cache_clear()
            shutil.rmtree(stage, ignore_errors=True)

    out: dict[str, dict[str, np.ndarray]] = {}
    for a in maps:
        out[a] = {}
        for mode in modes:
            acc = np.empty((len(seeds), len(fractions)))
            for i, s in enumerate(seeds):
                for j, f in enumerate(fractions):
                    def compute(a=a, mode=mode, f=f, s=s) -> dict[str, Any]:  # a damaged entry: retrain here
                        rtr, rte = ranks(a)
                        return _retrain(x_train, y_train, x_test, y_test, rtr, rte, f, mode, s, cfg, fill_values,
                                        device, a)

                    acc[i, j] = zoo.cached_arrays(name, keys[(a, mode, f, s)], compute)["test_acc"]
            out[a][mode] = acc
    return out


def retrain_curve(x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, train_maps: Tensor,
                  test_maps: Tensor, **kwargs: Any) -> dict[str, np.ndarray]:
    """The ROAR / KAR accuracies of one attribution: :func:`evaluate_roar_kar` with ``{"_": (train_maps,
    test_maps)}``; returns ``{mode: (len(seeds), len(fractions)) accuracies}``."""
    return evaluate_roar_kar(x_train, y_train, x_test, y_test, {"_": (train_maps, test_maps)}, **kwargs)["_"]
