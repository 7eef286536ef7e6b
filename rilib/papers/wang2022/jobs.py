"""Wang et al. (2022), part 1: the cached per-model work.

``points``        a model's evaluation set: its first ``n_points`` correctly classified test images (each model its
                  own set, as the paper);
``search``        the boundary search on them (:func:`rilib.attacks.boundary.boundary_search`; the ladder, CW and
                  APGD radius of the standard or the robust column of the profile);
``attributions``  SM, BSM, IG (black baseline), BIG, BIGp (BIG from the PGD ladder's point) and AGI, signed maps;
``smoothgrad``    Fig 11 (:mod:`rilib.papers.wang2022.smoothing`); ``randomisation`` Fig 15
                  (:mod:`rilib.papers.wang2022.sanity`).

Everything is cached under the model's key, the settings and the images (:func:`rilib.zoo.cached_arrays`);
:func:`prepare` runs the per-model searches and attributions in worker processes.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from ... import attribution, cache, parallel, profiles, zoo
from ...attacks.boundary import boundary_search
from . import cohort as _cohort

__all__ = ["points", "search_config", "search_settings", "search", "boundary_maps", "attributions", "METHODS",
           "prepare", "smoothgrad", "randomisation", "completeness", "line_search", "theorem33"]

#: the maps of Table 1 (and Table 8's BIGp)
METHODS = ("sm", "bsm", "ig", "big", "bigp", "agi")


class _Missing(Exception):
    """Raised instead of computing while :func:`prepare` probes what is cached."""


_PROBE = False


def _cached(name: str, key: cache.Key, compute) -> dict[str, np.ndarray]:
    if _PROBE and not zoo.cached_path(name, key).exists():
        raise _Missing(name)
    return zoo.cached_arrays(name, key, compute)


def _model(name: str, profile: str, device=None):
    return zoo.get(_cohort.spec(name, profile), device=device, progress=False).model.eval()


@functools.lru_cache(maxsize=16)
def points(name: str, profile: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y): the first ``n_points`` test images the model classifies correctly (memoised per process; do not
    modify the tensors)."""
    W = profiles.get(profile).wang
    spec = _cohort.spec(name, profile)
    ds = zoo.load_data(spec)
    model = _model(name, profile, device="cpu")
    with torch.no_grad():
        pred = torch.cat([model(b).argmax(1) for b in ds.x_test.split(500)])
    idx = torch.nonzero(pred == ds.y_test).flatten()[: int(W.n_points)]
    return ds.x_test[idx], ds.y_test[idx]


def search_config(name: str, profile: str) -> dict[str, Any]:
    """The boundary search's settings for ``name``: the robust column for adversarially trained nets (Table 7)."""
    W = profiles.get(profile).wang
    return search_settings(W.ladder_robust if _cohort.is_robust(name) else W.ladder_standard, profile)


def search_settings(ladder, profile: str) -> dict[str, Any]:
    """The boundary search of App. B.2 over the PGD ``ladder``: PGD steps, CW and APGD (their radius the top rung)
    and the bisection from the profile's ``wang`` section (parts 1 and 2 alike)."""
    W = profiles.get(profile).wang
    ladder = [float(e) for e in ladder]
    top = max(ladder)
    return {"ladder": ladder, "pgd_steps": int(W.pgd_steps),
            "cw": {"eps": top, "steps": int(W.cw_steps), "stepsize": float(W.cw_stepsize),
                   "binary_search_steps": int(W.cw_binary_steps)},
            "apgd": {"eps": top, "steps": int(W.apgd_steps), "losses": ["ce", "dlr"]},
            "bisect": int(W.bisect)}


def _key(kind: str, name: str, profile: str, settings: dict[str, Any], inputs) -> cache.Key:
    return cache.key(f"wang-{kind}", spec=settings, code=[f"{__name__}:{kind}"], inputs=inputs,
                     model=_cohort.spec(name, profile).key)


def search(name: str, profile: str, *, device=None) -> dict[str, np.ndarray]:
    """``{"x", "y", "x_boundary", "x_pgd", "success", "stages", "l2_<stage>", "success_<stage>", "seconds"}``
    (cached): the boundary search on :func:`points`; ``seconds`` per stage (in ``stages`` order) for the batch."""
    x, y = points(name, profile)
    cfg = search_config(name, profile)

    def compute() -> dict[str, np.ndarray]:
        r = boundary_search(_model(name, profile, device), x, y, bounds=(0.0, 1.0), device=device, **cfg)
        out = {"x": x.numpy(), "y": y.numpy(), "x_boundary": r.x_boundary.numpy(), "x_pgd": r.x_pgd.numpy(),
               "success": r.success.numpy(), "stages": np.asarray(list(r.l2)),
               "seconds": np.asarray([r.seconds[s] for s in r.l2])}
        for s in r.l2:
            out[f"l2_{s}"] = r.l2[s].numpy()
            out[f"success_{s}"] = r.stage_success[s].numpy()
        return out

    return _cached(f"wang-search-{name}", _key("search", name, profile, cfg, [x, y]), compute)


def _attr_settings(profile: str) -> dict[str, Any]:
    W = profiles.get(profile).wang
    return {"ig_steps": int(W.ig_steps), "agi_eps": float(W.agi_eps), "agi_iters": int(W.agi_iters),
            "agi_targets": W.agi_targets}


def boundary_maps(model, x: torch.Tensor, y: torch.Tensor, xb: torch.Tensor, xp: torch.Tensor,
                  A: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The signed maps of :data:`METHODS`, target ``y``: SM, BSM at the boundary points ``xb``, IG from black, BIG
    from ``xb`` and BIGp from the PGD points ``xp`` (``ig_steps`` trapezoid points), AGI as published (Pan et
    al.; ``agi_*`` of ``A``, :func:`_attr_settings`)."""
    kw = dict(target=y, abs=False, channel_sum=False)
    return {"sm": attribution.attribute(model, x, method="saliency", **kw),
            "bsm": attribution.attribute(model, x, method="bsm", boundary=xb, **kw),
            "ig": attribution.attribute(model, x, method="integrated_gradients", baseline=0.0,
                                        n_steps=A["ig_steps"], **kw),
            "big": attribution.attribute(model, x, method="big", boundary=xb, n_steps=A["ig_steps"], **kw),
            "bigp": attribution.attribute(model, x, method="big", boundary=xp, n_steps=A["ig_steps"], **kw),
            "agi": attribution.attribute(model, x, method="agi", eps=A["agi_eps"], max_iter=A["agi_iters"],
                                         n_targets=A["agi_targets"], **kw)}


def attributions(name: str, profile: str, *, device=None) -> dict[str, np.ndarray]:
    """The signed maps of :data:`METHODS` on the search's points (cached), each (N, 1, H, W); target = the true
    (= predicted) class."""
    s = search(name, profile, device=device)
    x, y = torch.from_numpy(s["x"]), torch.from_numpy(s["y"])
    xb, xp = torch.from_numpy(s["x_boundary"]), torch.from_numpy(s["x_pgd"])
    A = _attr_settings(profile)

    def compute() -> dict[str, np.ndarray]:
        maps = boundary_maps(_model(name, profile, device), x, y, xb, xp, A)
        return {k: v.numpy() for k, v in maps.items()}

    return _cached(f"wang-attributions-{name}",
                             _key("attributions", name, profile, A, [x, y, xb, xp]), compute)


def _job(kind: str, name: str, profile: str) -> str:
    if kind == "fig15":
        randomisation(profile)
    elif kind == "fig11":
        smoothgrad(profile)
    elif kind == "thm33":
        theorem33(profile)
    else:  # a model: its search, maps and completeness sums (and the standard model's line search)
        attributions(name, profile)
        completeness(name, profile)
        if name == "standard":
            line_search(name, profile)
    return f"{kind} {name}"


def prepare(profile: str) -> None:
    """Train (or load) every model of the profile, then run everything of part 1 not cached yet in worker processes:
    Fig 15 and Fig 11 first (the longest single jobs), then per model its search, maps and completeness sums. Every
    page of the chapter calls this first, so whichever page runs first fills both cores."""
    global _PROBE
    names = _cohort.names(profile)
    zoo.prefetch([_cohort.spec(n, profile) for n in names], progress=True)
    jobs = [("fig15", "standard", profile), ("fig11", "standard", profile), ("thm33", "-", profile)] + \
        [("model", n, profile) for n in names]
    todo = []
    for job in jobs:  # only what is not cached goes to the workers (starting them costs seconds)
        _PROBE = True
        try:
            _job(*job)
        except _Missing:
            todo.append(job)
        finally:
            _PROBE = False
    if todo:
        parallel.map_jobs(_job, todo, desc="Wang: searches, attributions, Figs 11 and 15")


def smoothgrad(profile: str, *, device=None) -> dict[str, np.ndarray]:
    """Fig 11 on the standard model (cached): ``{"sigmas", "distance" (n_sigma, N): ‖SG(x) − SG(x′)‖₂,
    "valid", "success" (n_sigma, N), "delta" (n_sigma, N): ‖x′ − x‖₂}`` (:mod:`rilib.papers.wang2022.smoothing`)."""
    from . import smoothing

    W = profiles.get(profile).wang
    x, y = points("standard", profile)
    x, y = x[: int(W.sg_points)], y[: int(W.sg_points)]
    settings = {"sigmas": [float(s) for s in W.sg_sigmas], "draws": int(W.sg_draws), "eps": float(W.sg_eps),
                "steps": int(W.sg_steps), "noise_seed": 2020}

    def compute() -> dict[str, np.ndarray]:
        model = _model("standard", profile, device)
        rows = [smoothing.sg_vs_boundary_sg(model, x, y, sigma=s, draws=settings["draws"], eps=settings["eps"],
                                            steps=settings["steps"], seed=settings["noise_seed"])
                for s in settings["sigmas"]]
        return {"sigmas": np.asarray(settings["sigmas"]),
                **{k: np.stack([r[k].numpy() for r in rows]) for k in ("distance", "success", "valid", "delta")}}

    return _cached("wang-fig11", _key("smoothgrad", "standard", profile, settings, [x, y]), compute)


def randomisation(profile: str, *, device=None) -> dict[str, np.ndarray]:
    """Fig 15 on the standard model (cached): ``{"stage_names", "spearman" (n_stages, N), "accuracy" (n_stages,)}``
    (:mod:`rilib.papers.wang2022.sanity`)."""
    from . import sanity

    W = profiles.get(profile).wang
    x, y = points("standard", profile)
    x, y = x[: int(W.rand_points)], y[: int(W.rand_points)]
    cfg = search_config("standard", profile)
    settings = {"every": int(W.rand_every), "ladder": cfg["ladder"], "pgd_steps": cfg["pgd_steps"],
                "bisect": cfg["bisect"], "ig_steps": int(W.ig_steps), "seed": 0}

    def compute() -> dict[str, np.ndarray]:
        r = sanity.cascading_big(_model("standard", profile, device), x, **settings)
        return {"stage_names": np.asarray(r["stage_names"]), "spearman": r["spearman"].numpy(),
                "accuracy": r["accuracy"].numpy()}

    return _cached("wang-fig15", _key("randomisation", "standard", profile, settings, [x, y]), compute)


def completeness(name: str, profile: str, *, device=None) -> dict[str, np.ndarray]:
    """Table 4's completeness on the first ``completeness_points`` of the search's points (cached): per image
    ``delta_ig`` = z_c(x) − z_c(0), ``delta_big`` = z_c(x) − z_c(x′), and the map sums ``ig_<n>``, ``big_<n>`` for
    n = the chapter's ``ig_steps`` (the maps of :func:`attributions`, not recomputed) and 100 points, with the
    corrected trapezoid weights, and ``big_captum_<ig_steps>`` with Captum's own (what the paper ran)."""
    W = profiles.get(profile).wang
    k, n0 = int(W.completeness_points), int(W.ig_steps)
    s, A = search(name, profile, device=device), attributions(name, profile, device=device)
    x, y, xb = (torch.from_numpy(s[v][:k]) for v in ("x", "y", "x_boundary"))

    def compute() -> dict[str, np.ndarray]:
        model = _model(name, profile, device)
        dev = next(model.parameters()).device
        with torch.no_grad():
            z = lambda v: model(v.to(dev)).gather(1, y.to(dev)[:, None]).squeeze(1).cpu()  # noqa: E731
            out = {"delta_ig": (z(x) - z(torch.zeros_like(x))).numpy(), "delta_big": (z(x) - z(xb)).numpy()}
        out[f"ig_{n0}"] = A["ig"][:k].reshape(len(x), -1).sum(1)
        out[f"big_{n0}"] = A["big"][:k].reshape(len(x), -1).sum(1)
        kw = dict(target=y, abs=False, channel_sum=False)
        out["ig_100"] = attribution.attribute(model, x, method="integrated_gradients", baseline=0.0, n_steps=100,
                                              **kw).flatten(1).sum(1).numpy()
        out["big_100"] = attribution.attribute(model, x, method="big", boundary=xb, n_steps=100,
                                               **kw).flatten(1).sum(1).numpy()
        out[f"big_captum_{n0}"] = attribution.attribute(model, x, method="big", boundary=xb, n_steps=n0,
                                                        captum_weights=True, **kw).flatten(1).sum(1).numpy()
        return out

    return _cached(f"wang-completeness-{name}",
                             _key("completeness", name, profile, {"steps": [n0, 100], "points": k},
                                  [x, y, xb, torch.from_numpy(A["ig"][:k]), torch.from_numpy(A["big"][:k])]),
                             compute)


def line_search(name: str, profile: str, *, device=None) -> dict[str, np.ndarray]:
    """Sec 3.2 on the search's points (cached): ``l2`` per point, the distance a line search along the normalised
    loss gradient needs to change the prediction (+inf where it fails; :func:`rilib.attacks.attack`'s
    ``"gradient"``), beside the ensemble's distance of :func:`search`."""
    from ... import attacks

    s = search(name, profile, device=device)
    x, y = torch.from_numpy(s["x"]), torch.from_numpy(s["y"])

    def compute() -> dict[str, np.ndarray]:
        r = attacks.attack(_model(name, profile, device), x, y, method="gradient", bounds=(0.0, 1.0), device=device)
        return {"l2": np.where(r.success.cpu().numpy(), r.l2.cpu().numpy(), np.inf)}

    return _cached(f"wang-linesearch-{name}", _key("line_search", name, profile, {}, [x, y]), compute)


def theorem33(profile: str) -> dict[str, np.ndarray]:
    """Theorem 3.3 measured (cached): :func:`rilib.papers.wang2022.smoothing.theorem33` on a random smoothed one-layer
    net (3 classes, 10 inputs, W ~ N(0, 1/10), seed 0) at ``thm33_points`` Gaussian inputs over ``thm33_sigmas``,
    boundary points by the PGD ladder 0.25 … 8 and bisection; plus ``sigmas``."""
    from . import smoothing

    W = profiles.get(profile).wang
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(3, 10, generator=gen, dtype=torch.float64) / 10 ** 0.5
    x = torch.randn(int(W.thm33_points), 10, generator=gen, dtype=torch.float64)
    settings = {"sigmas": [float(s) for s in W.thm33_sigmas], "ladder": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]}

    def compute() -> dict[str, np.ndarray]:
        r = smoothing.theorem33(w, x, settings["sigmas"], ladder=settings["ladder"])
        return {"sigmas": np.asarray(settings["sigmas"]), **r}

    key = cache.key("wang-thm33", spec=settings, code=[f"{__name__}:theorem33"], inputs=[w, x])
    return _cached("wang-thm33", key, compute)
