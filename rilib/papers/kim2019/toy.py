"""Kim et al. (2019), Fig 3b: a standard and two adversarially trained MLPs on two 2-D Gaussians.

Models: Dense(128)-ReLU-Dense(2), Adam 1e-3, batch 100 (appendix A.2); adversarial-only L2 PGD batches without
random start (the authors' code). Per model and class-2 test point (label 1 here) :func:`measure` records

* ``tilt``: the angle (degrees) between the boundary normal ∇(Ψ¹ − Ψ⁰), taken where the segment from the point to
  its mirror image (a class-1 point) crosses the boundary, and the data's high-variance direction (NaN where the
  segment does not cross);
* ``dist_adv``: the distance of the point's L2 ε-attack (BIM, no random start) to the nearest class-1 training
  point — does the adversarial example land on the other class's data?

:func:`statistics` gives the claims' statistics with a 95 % bootstrap interval that resamples both the seeds and
the test points (the same points for every model of a seed).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ... import attacks, data, geometry, profiles, zoo
from ...evaluation import Interval, percentile_interval

__all__ = ["MODELS", "toy_data", "spec", "measure", "statistics"]

#: the three models of Fig 3b: key -> index into the profile's ``train_eps`` (None = standard training)
MODELS = {"standard": None, "eps025": 0, "eps050": 1}


def toy_data(profile: str) -> data.Dataset:
    P = profiles.get(profile).kim_toy
    return data.make_gaussian_toy(n_per_class=P.n_per_class, n_test_per_class=P.n_test_per_class, seed=0)


def spec(name: str, seed: int, profile: str) -> zoo.ModelSpec:
    """The zoo spec of model ``name`` (a key of :data:`MODELS`) for ``seed``."""
    P = profiles.get(profile).kim_toy
    common = dict(dataset="gaussian-toy", arch="toy_mlp", epochs=P.epochs, batch_size=P.batch_size, seed=seed,
                  profile=profile, optimizer={"name": "adam", "lr": 1e-3},
                  data_kwargs={"n_per_class": P.n_per_class, "n_test_per_class": P.n_test_per_class, "seed": 0})
    if MODELS[name] is None:
        return zoo.ModelSpec(regime="ce", **common)
    lo, hi = toy_data(profile).bounds
    return zoo.ModelSpec(regime="adversarial", regime_kwargs={
        "eps": P.train_eps[MODELS[name]], "norm": "l2", "steps": P.train_steps, "loss": "ce", "random_start": False,
        "adversarial_only": True, "bounds": [lo, hi]}, **common)


def measure(model: torch.nn.Module, toy: data.Dataset, profile: str) -> dict[str, Any]:
    """Per class-2 test point: ``tilt`` (NaN without a crossing), ``dist_adv``, ``success`` and ``x_adv``."""
    P = profiles.get(profile).kim_toy
    high_var, _ = geometry.principal_directions(torch.tensor(data.GAUSSIAN_TOY_COV))
    x2 = toy.x_test[toy.y_test == 1][: P.n_attacked]
    res = attacks.attack(model, x2, torch.ones(len(x2), dtype=torch.long), method="bim", bounds=toy.bounds,
                         epsilons=P.attack_eps, steps=P.attack_steps, rel_stepsize=2.5 / P.attack_steps)
    pts, valid = geometry.boundary_points(model, x2, -x2)
    tilt = torch.full((len(x2),), float("nan"))
    tilt[valid] = geometry.boundary_tilt(model, pts[valid], high_var)
    d_near = torch.cdist(res.x_adv, toy.x_train[toy.y_train == 0]).min(1).values
    return {"tilt": tilt.numpy(), "dist_adv": d_near.numpy(), "success": res.success.numpy(), "x_adv": res.x_adv,
            "x": x2}


def _summary(meas: dict[tuple[str, int], dict[str, np.ndarray]], seeds, idx) -> dict[str, float]:
    out = {}
    for n in MODELS:
        tilt = [np.nanmedian(meas[(n, s)]["tilt"][idx]) if np.isfinite(meas[(n, s)]["tilt"][idx]).any()
                else math.nan for s in seeds]
        out[f"tilt_{n}"] = float(np.median(tilt))
        out[f"offmanifold_{n}"] = float(np.median([np.median(meas[(n, s)]["dist_adv"][idx]) for s in seeds]))
    out["tilt_drop_weak"] = out["tilt_standard"] - out["tilt_eps025"]
    out["tilt_drop_strong"] = out["tilt_eps025"] - out["tilt_eps050"]
    out["offmanifold_drop"] = out["offmanifold_standard"] - out["offmanifold_eps050"]
    return out


def statistics(meas: dict[tuple[str, int], dict[str, np.ndarray]], seeds: list[int], *, n_boot: int = 1000,
               level: float = 0.95, seed: int = 0) -> dict[str, Interval]:
    """Median over seeds of each model's median tilt and adversarial distance, and the claims' differences —
    ``tilt_drop_weak`` = tilt(standard) − tilt(ε = 0.25), ``tilt_drop_strong`` = tilt(0.25) − tilt(0.5) (> 0: less
    tilt with a stronger adversary), ``offmanifold_drop`` = distance(standard) − distance(0.5) — each with a
    percentile bootstrap interval over seeds (drawn with replacement) and test points (drawn with replacement, the
    same draw for every model)."""
    n_points = len(next(iter(meas.values()))["tilt"])
    est = _summary(meas, seeds, np.arange(n_points))
    rng = np.random.default_rng(seed)
    reps = {k: [] for k in est}
    for _ in range(n_boot):
        s_draw = list(rng.choice(seeds, len(seeds), replace=True))
        r = _summary(meas, s_draw, rng.integers(0, n_points, n_points))
        for k, v in r.items():
            reps[k].append(v)
    return {k: percentile_interval(e, reps[k], level=level) for k, e in est.items()}
