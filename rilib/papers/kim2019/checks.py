"""Kim et al. (2019): the accuracy table of the chapter's classifiers and the check of the default profile's
training cuts (PGD-k instead of PGD-40, the tutorial net instead of the paper's).

Robustness in the check is the median L2 distance of the minimal adversarial examples Foolbox's DDN attack
(Rony et al. 2019) finds for the first test images, labels as targets to move away from, failures counted as +∞.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ... import attacks, cache, parallel, profiles, zoo
from . import cohort as _cohort

__all__ = ["accuracy_table", "accuracy_trend", "training_check", "check_specs", "ddn_distances", "ddn_done"]


def accuracy_table(profile: str) -> list[dict[str, Any]]:
    """One row per classifier of every dataset of the profile: ε in both scales, clean test accuracy, training
    time (trains the missing ones in parallel)."""
    P = profiles.get(profile).kim_models
    models = [m for ds in P.datasets for m in _cohort.cohort(ds, profile)]
    zoo.prefetch([_cohort.spec(m, profile) for m in models])
    rows = []
    for m in models:
        e = zoo.get(_cohort.spec(m, profile), device="cpu", progress=False)
        rows.append({"dataset": m.dataset, "model": m.name, "norm": m.norm or "—", "objective": m.objective if m.norm else "—",
                     "ε [−1, 1]": m.eps_paper, "ε [0, 1]": m.eps, "clean test accuracy": e.test_acc,
                     "train s": e.meta["train_seconds"]})
    return rows


def accuracy_trend(rows: list[dict[str, Any]], profile: str) -> dict[str, float]:
    """``acc_spearman_<dataset>_<norm>_<objective>``: Spearman correlation of clean accuracy with the training ε over
    the standard net and the panel's nets (< 0: accuracy falls as ε grows), from :func:`accuracy_table`'s rows."""
    from ...evaluation.stats import spearman

    out = {}
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        acc = {r["model"]: r["clean test accuracy"] for r in rows if r["dataset"] == ds}
        for norm, obj in _cohort.PANELS:
            chain = [m for m in _cohort.panel(_cohort.cohort(ds, profile), norm, obj) if m.name in acc]
            out[f"acc_spearman_{ds.replace('-', '')}_{norm}_{obj}"] = spearman(
                np.array([m.eps for m in chain]), np.array([acc[m.name] for m in chain]))
    return out


def check_specs(profile: str) -> dict[str, zoo.ModelSpec]:
    """The profile's spec of the checked model and its two variants: ``long`` (the paper's 40 PGD steps, the
    step of :func:`rilib.papers.kim2019.cohort.step_size` for 40 steps) and ``paper_net`` (no pool after conv1)."""
    C = profiles.get(profile).kim_check
    model = next(m for m in _cohort.cohort("mnist", profile) if m.name == C.model)
    base = _cohort.spec(model, profile)
    rk = dict(base.regime_kwargs, steps=C.long_steps,
              step_size=_cohort.step_size(model.norm, model.eps, C.long_steps, profile))
    return {"profile": base, "long": dataclasses.replace(base, regime_kwargs=rk),
            "paper_net": dataclasses.replace(base, arch_kwargs={"pool_after_conv1": False})}


def _ddn_where(spec: zoo.ModelSpec, profile: str):
    C = profiles.get(profile).kim_check
    ds = zoo.load_data(spec)
    x, y = ds.x_test[: C.n_points], ds.y_test[: C.n_points]
    key = cache.key("kim-ddn", spec={"ddn_steps": C.ddn_steps}, code=[f"{__name__}:ddn_distances"], inputs=[x, y],
                    model=spec.key)
    return x, y, key


def ddn_done(spec: zoo.ModelSpec, profile: str) -> bool:
    """Whether :func:`ddn_distances` of ``spec`` is cached."""
    return zoo.cached_path("kim-ddn", _ddn_where(spec, profile)[2]).exists()


def ddn_distances(spec: zoo.ModelSpec, profile: str, device: str | None = None) -> dict[str, Any]:
    """DDN minimal L2 distances of the first ``kim_check.n_points`` test images for the model of ``spec`` (cached)."""
    C = profiles.get(profile).kim_check
    x, y, key = _ddn_where(spec, profile)

    def compute() -> dict[str, Any]:
        entry = zoo.get(spec, device=device, progress=False)
        res = attacks.attack(entry.model, x, y, method="ddn", bounds=(0.0, 1.0), device=device, steps=C.ddn_steps)
        return {"l2": res.l2.cpu().numpy()}

    return zoo.cached_arrays("kim-ddn", key, compute)


def training_check(profile: str) -> list[dict[str, Any]]:
    """One row per variant of :func:`check_specs`: PGD steps, architecture, clean accuracy, median DDN distance,
    training time."""
    specs = check_specs(profile)
    zoo.prefetch(list(specs.values()))
    # (the Figs 1/2 page's MNIST pools, rilib.papers.kim2019.jobs.prepare, run these with the cohort's jobs)
    parallel.map_jobs(ddn_distances, [(s, profile) for s in specs.values() if not ddn_done(s, profile)],
                      desc="DDN check")
    rows = []
    for name, s in specs.items():
        e = zoo.get(s, device="cpu", progress=False)
        d = ddn_distances(s, profile)["l2"]
        rows.append({"variant": name, "PGD steps": s.regime_kwargs["steps"],
                     "net": "paper" if not s.arch_kwargs.get("pool_after_conv1") else "tutorial",
                     "clean test accuracy": e.test_acc, "median DDN L2 distance": float(np.median(d)),
                     "train s": e.meta["train_seconds"]})
    return rows
