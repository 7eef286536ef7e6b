"""Kim et al. (2019), Figs 4 and 5: ROAR and KAR scores of the loss gradient g_G = |∇ₓ ℓ| and of gradient × input
g_GX = |x̃ ⊙ ∇_x̃ ℓ| (x̃ = 2x − 1, the paper's [−1, 1] input), at the predicted label, summed over channels, for
every classifier of the chapter's ROAR dataset (Sec 3.2, appendix B.3).

The maps of the first ``n_train`` training and ``n_test`` test images are computed once per model and method
(cached), the retrainings run through :func:`rilib.retrain.evaluate_roar_kar` (cached, in worker processes), and
:func:`scores` turns the curves into μ_ROAR / μ_KAR against the random baseline. The random baseline is retrained
with several seeds; the spread of its areas is the noise of a single retraining's area (:func:`noise`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ... import attribution, cache, parallel, profiles, retrain, zoo
from ...evaluation import roar as _roar
from . import cohort as _cohort

__all__ = ["METHODS", "roar_data", "maps", "curves", "scores", "noise"]

#: the paper's two attributions: name on the pages -> (rilib.attribution method, options)
METHODS = {"G": ("loss_gradient", {}), "GX": ("loss_input_x_gradient", {"input_map": (2.0, -1.0)})}


def roar_data(profile: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ROAR dataset's first ``n_train`` training and ``n_test`` test images (of the classifiers' data)."""
    R = profiles.get(profile).kim_roar
    ds = zoo.load_data(_cohort.spec(_cohort.KimModel(R.dataset), profile))
    ntr = len(ds.x_train) if R.n_train is None else R.n_train
    nte = len(ds.x_test) if R.n_test is None else R.n_test
    return ds.x_train[:ntr], ds.y_train[:ntr], ds.x_test[:nte], ds.y_test[:nte]


def maps(m: _cohort.KimModel, method: str, profile: str, *, device: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(train maps, test maps) of attribution ``method`` (a key of :data:`METHODS`) of model ``m``, (B, 1, H, W)
    (cached: the retrainings' keys hold their digests)."""
    name, options = METHODS[method]
    xtr, _, xte, _ = roar_data(profile)
    spec = _cohort.spec(m, profile)
    where = _maps_where(m, method, profile)

    def compute() -> dict[str, Any]:
        net = zoo.get(spec, device=device, progress=False).model.eval()
        return {s: attribution.attribute(net, x, method=name, **options).cpu().numpy()
                for s, x in (("train", xtr), ("test", xte))}

    out = zoo.cached_arrays(*where, compute)
    return torch.as_tensor(out["train"]), torch.as_tensor(out["test"])


def _maps_where(m: _cohort.KimModel, method: str, profile: str) -> tuple[str, cache.Key]:
    """(cache name, key) of :func:`maps`."""
    name, options = METHODS[method]
    xtr, _, xte, _ = roar_data(profile)
    fn = attribution.get_method(name).fn  # registered by a decorator: name its code, the digest cannot follow it
    key = cache.key("kim-roar-maps", spec={"method": name, "options": options},
                    code=[f"{__name__}:maps", f"{fn.__module__}:{fn.__qualname__}"], inputs=[xtr, xte],
                    model=_cohort.spec(m, profile).key)
    return f"kim-roar-maps-{m.dataset}-{m.name}-{method}", key


def _maps_job(m: _cohort.KimModel, method: str, profile: str, device: str | None) -> None:
    maps(m, method, profile, device=device)  # cached; the caller loads it


def curves(profile: str, *, device: str | None = None) -> dict[str, Any]:
    """Retrain for every classifier × method and for the random baseline; returns ``{"models": [...],
    "accuracies": {"<model>/<method>": {mode: (R, F)}}, "random": {mode: (R_random, F)}, "fractions": [...],
    "start": the standard classifier's test accuracy, "clean_acc": {model: test accuracy}}``."""
    R = profiles.get(profile).kim_roar
    models = _cohort.cohort(R.dataset, profile)
    zoo.prefetch([_cohort.spec(m, profile) for m in models], device=device)
    xtr, ytr, xte, yte = roar_data(profile)
    cfg = dict(arch=R.retrain_arch, arch_kwargs=R.retrain_kwargs.to_dict(), epochs=R.epochs, batch_size=R.batch_size,
               fractions=R.fractions, device=device)
    # the missing maps on the workers (in the notebook's process they took ~1 min of one core, the other idle)
    parallel.map_jobs(_maps_job, [(m, meth, profile, device) for m in models for meth in METHODS
                                  if not zoo.cached_path(*_maps_where(m, meth, profile)).exists()],
                      desc="ROAR/KAR maps")
    atts = {f"{m.name}/{meth}": maps(m, meth, profile, device=device) for m in models for meth in METHODS}
    acc = retrain.evaluate_roar_kar(xtr, ytr, xte, yte, atts, seeds=R.seeds, desc="ROAR/KAR retraining", **cfg)
    g = torch.Generator().manual_seed(0)
    rand = (attribution.attribute(None, xtr, method="random", generator=g),
            attribution.attribute(None, xte, method="random", generator=g))
    rnd = retrain.evaluate_roar_kar(xtr, ytr, xte, yte, {"random": rand}, seeds=R.random_seeds,
                                    desc="ROAR/KAR random baseline", **cfg)["random"]
    clean = {m.name: zoo.get(_cohort.spec(m, profile), device="cpu", progress=False).test_acc for m in models}
    return {"models": models, "accuracies": acc, "random": rnd, "fractions": list(R.fractions),
            "start": clean["standard"], "clean_acc": clean}


def scores(c: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{"<model>/<method>": {"roar": μ_ROAR, "kar": μ_KAR}}`` against the mean random curve (Kim et al. Sec 3.2)."""
    return _roar.roar_kar_scores(c["accuracies"], c["random"], start=c["start"], end=0.1, fractions=c["fractions"])


def noise(c: dict[str, Any]) -> dict[str, float]:
    """The noise of one model's curve area, per mode: the standard deviation of one retrained curve's area over the
    random baseline's seeds (``single_<mode>``), divided by √repeats when a model's curve is the mean of
    ``repeats`` retrainings (``<mode>``); ``n``, the number of seeds the spread is estimated from (its degrees of
    freedom are n − 1), and ``repeats``."""
    repeats = {np.asarray(v[m]).shape[0] if np.asarray(v[m]).ndim == 2 else 1
               for v in c["accuracies"].values() for m in _roar.MODES}
    if len(repeats) != 1:
        raise ValueError(f"the model curves have different numbers of retrainings: {sorted(repeats)}")
    (rep,) = repeats
    out: dict[str, float] = {"repeats": rep}
    for mode in _roar.MODES:
        areas = [_roar.curve_area(*_roar.full_curve(row, c["fractions"], start=c["start"], end=0.1))
                 for row in np.asarray(c["random"][mode])]
        single = float(np.std(areas, ddof=1)) if len(areas) > 1 else float("nan")
        out[f"single_{mode}"] = single
        out[mode] = single / np.sqrt(rep)
        out["n"] = len(areas)
    return out
