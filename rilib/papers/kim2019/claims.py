"""Kim et al. (2019): the statistics the chapter's verdicts read, each with a 95 % bootstrap interval over the
evaluation images (one paired resample for all models of a dataset, :func:`rilib.evaluation.bootstrap`).

* :func:`manifold_statistics` (Fig 1, Fig 2): per model the median d_π of its *successful* adversarial examples and
  the share that an independent standard net classifies as the attacked model does; per (norm, objective) panel
  the drop of that median from the standard net to the largest training ε and its Spearman correlation with ε.
* :func:`sparsity` and :func:`smoothness` (Fig 6): the Gini coefficient of a map's absolute values (1: all mass on
  one pixel, 0: uniform; Hurley & Rickard 2009) and its total variation relative to its L1 mass (lower: smoother);
  :func:`image_correlation`: how much |g| follows the image (object shapes appear in the map).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ...evaluation import Interval, bootstrap
from ...evaluation.stats import pearson, spearman
from .cohort import PANELS, KimModel, panel

__all__ = ["manifold_statistics", "sparsity", "smoothness", "image_correlation", "map_statistics", "roar_statistics"]


def _median_where(values: np.ndarray, mask: np.ndarray) -> float:
    v = values[mask.astype(bool)]
    return float(np.median(v)) if v.size else float("nan")


def _mean_where(values: np.ndarray, mask: np.ndarray) -> float:
    v = values[mask.astype(bool)]
    return float(v.mean()) if v.size else float("nan")


def _manifold_summary(per_model: Sequence[Mapping[str, np.ndarray]], models: Sequence[KimModel]) -> dict[str, float]:
    out: dict[str, float] = {}
    for m, a in zip(models, per_model):
        out[f"dpi_{m.name}"] = _median_where(a["d_adv"], a["success"])
        out[f"judge_{m.name}"] = _mean_where(a["judge_agrees"], a["success"])
        out[f"success_{m.name}"] = float(np.mean(a["success"]))
    out["dpi_clean"] = float(np.median(per_model[0]["d_clean"]))
    for norm, obj in PANELS:
        chain = panel(list(models), norm, obj)
        if len(chain) < 2:
            continue
        meds = [out[f"dpi_{m.name}"] for m in chain]
        tag = f"{norm}_{obj}"
        out[f"dpi_drop_{tag}"] = meds[0] - meds[-1]
        out[f"dpi_mindrop_{tag}"] = meds[0] - max(meds[1:])
        out[f"dpi_spearman_{tag}"] = spearman(np.array([m.eps for m in chain]), np.array(meds))
        out[f"judge_gain_{tag}"] = out[f"judge_{chain[-1].name}"] - out[f"judge_{chain[0].name}"]
    return out


def manifold_statistics(meas: Mapping[str, Mapping[str, np.ndarray]], models: Sequence[KimModel], *,
                        n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, Interval]:
    """Fig 1 / Fig 2 statistics of one dataset's models (``meas[name]`` from :func:`rilib.papers.kim2019.jobs.
    manifold_job`, the same test images for every model).

    Per model: ``dpi_<name>`` = median d_π over the images whose attack succeeded (failed attacks removed, Sec 2.1),
    ``judge_<name>`` = share of those that the independent standard net puts in the attacked model's adversarial
    class, ``success_<name>``. Per panel ``<norm>_<objective>`` (standard net, then increasing ε):
    ``dpi_drop_*`` = dpi(standard) − dpi(largest ε) (> 0: closer to the manifold), ``dpi_mindrop_*`` =
    dpi(standard) − the largest dpi of the panel's adversarially trained nets (> 0: every one is closer),
    ``dpi_spearman_*`` = Spearman
    correlation of dpi with ε over the panel's models (< 0: larger ε, closer), ``judge_gain_*`` = judge(largest ε)
    − judge(standard). ``dpi_clean``: median d_π of the clean test images. All with a paired bootstrap interval
    over the images.
    """
    per_model = [{k: np.asarray(meas[m.name][k]) for k in ("d_adv", "success", "judge_agrees", "d_clean")}
                 for m in models]
    return bootstrap(lambda pm: _manifold_summary(pm, models), per_model, n_boot=n_boot, level=level, seed=seed)


def sparsity(maps: torch.Tensor | np.ndarray) -> np.ndarray:
    """Gini coefficient of each map's absolute values (maps (B, ...) → (B,)): 0 when all pixels are equal, → 1 when
    one pixel holds all the mass (Hurley & Rickard 2009's sparsity measure). An all-zero map gives NaN."""
    a = np.abs(np.asarray(maps, dtype=np.float64)).reshape(len(maps), -1)
    a = np.sort(a, axis=1)
    n = a.shape[1]
    total = a.sum(1)
    k = np.arange(1, n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = 1.0 - 2.0 * ((a / total[:, None]) * ((n - k + 0.5) / n)).sum(1)
    return np.where(total > 0, g, np.nan)


def smoothness(maps: torch.Tensor | np.ndarray) -> np.ndarray:
    """Total variation of each 2-D map (B, H, W) relative to its L1 mass: Σ|horizontal and vertical differences| /
    Σ|map|. A constant map gives 0; a checkerboard of ±1 on H×W gives (H(W−1) + W(H−1))·2 / (HW). Lower is smoother.
    An all-zero map gives NaN."""
    a = np.asarray(maps, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"smoothness expects maps of shape (B, H, W), got {a.shape}")
    tv = np.abs(np.diff(a, axis=1)).sum((1, 2)) + np.abs(np.diff(a, axis=2)).sum((1, 2))
    mass = np.abs(a).sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, tv / mass, np.nan)


def image_correlation(maps: torch.Tensor | np.ndarray, images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Pearson correlation, per image, between the absolute map |g| (B, H, W) and the image's pixel values (summed
    over channels): how much the map shows the object. NaN for a constant map or image."""
    a = np.abs(np.asarray(maps, dtype=np.float64)).reshape(len(maps), -1)
    b = np.asarray(images, dtype=np.float64).reshape(len(images), -1, a.shape[1]).sum(1)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def map_statistics(maps: Mapping[str, np.ndarray], images: np.ndarray, *,
                   differences: Sequence[tuple[str, str]] = (), n_boot: int = 1000, level: float = 0.95,
                   seed: int = 0) -> dict[str, Interval]:
    """Fig 6: ``gini_<name>``, ``tv_<name>`` and ``corr_<name>`` (medians over the images of :func:`sparsity`,
    :func:`smoothness` and :func:`image_correlation`) for each model's signed maps ``maps[name]`` (B, H, W) of the
    same ``images``, and for each pair ``(a, b)`` of ``differences`` the differences ``<stat>_<a>_minus_<b>``, all
    with a paired bootstrap interval over the images (one resample for all models)."""
    per_model = [{"gini": sparsity(v), "tv": smoothness(v), "corr": image_correlation(v, images)}
                 for v in maps.values()]
    names = list(maps)

    def stat(pm: Sequence[Mapping[str, np.ndarray]]) -> dict[str, Any]:
        out = {}
        for n, a in zip(names, pm):
            for k in ("gini", "tv", "corr"):
                out[f"{k}_{n}"] = float(np.nanmedian(a[k]))
        for a, b in differences:
            for k in ("gini", "tv", "corr"):
                out[f"{k}_{a}_minus_{b}"] = out[f"{k}_{a}"] - out[f"{k}_{b}"]
        return out

    return bootstrap(stat, per_model, n_boot=n_boot, level=level, seed=seed)


def _noise_interval(value: float, sd: float, q: float) -> Interval:
    """``value`` ± q·sd as an :class:`Interval` (NaN bounds when the noise is unknown)."""
    if not (np.isfinite(sd) and np.isfinite(q)):
        return Interval(float(value), float("nan"), float("nan"))
    return Interval(float(value), float(value - q * sd), float(value + q * sd))


def _matched_gap(acc_a: np.ndarray, score_a: np.ndarray, acc_b: np.ndarray, score_b: np.ndarray) -> float:
    """Mean over the common accuracy range of score_a(acc) − score_b(acc), each curve linearly interpolated in
    accuracy (the comparison "at matched accuracy" of Fig 5). NaN when the ranges do not overlap."""
    lo, hi = max(acc_a.min(), acc_b.min()), min(acc_a.max(), acc_b.max())
    if not hi > lo:
        return float("nan")
    grid = np.linspace(lo, hi, 101)
    ia, ib = np.argsort(acc_a), np.argsort(acc_b)
    return float(np.mean(np.interp(grid, acc_a[ia], score_a[ia]) - np.interp(grid, acc_b[ib], score_b[ib])))


def roar_statistics(models: Sequence[KimModel], scores: Mapping[str, Mapping[str, float]],
                    clean_acc: Mapping[str, float], noise_sd: Mapping[str, float],
                    methods: Sequence[str] = ("G", "GX")) -> dict[str, Any]:
    """Figs 4 / 5 statistics from the μ_ROAR / μ_KAR of every ``"<model>/<method>"`` and each model's clean accuracy.

    ``noise_sd[mode]`` is the noise (standard deviation) of one model's curve area — the seed-to-seed spread of one
    retrained curve's area over ``noise_sd["n"]`` seeds of the random baseline, divided by √repeats for a curve
    averaged over repeats (:func:`rilib.papers.kim2019.roar_kar.noise`); a difference of two scores then has noise √2·sd, and the
    intervals below are ± q times the noise of the statistic, q the 97.5 % quantile of Student's t with n − 1
    degrees of freedom (4.30 for 3 repeats: sd itself is estimated from few seeds), i.e. 95 % intervals of
    retraining noise, not a bootstrap. Per curve ``<mode>_<method>_<norm>_<objective>`` (standard net
    and increasing ε): ``rise_*`` = score(largest ε) − score(standard) with that interval, ``spearman_eps_*`` and
    ``pearson_eps_*`` (score vs ε), ``spearman_acc_*`` and ``pearson_acc_*`` (score vs clean accuracy; point
    estimates over the panel's models). Per mode: ``<mode>_gx_minus_g`` = mean over models of GX − G (noise
    √2·sd/√(number of models)); ``<mode>_<method>_adv_minus_std`` = min over adversarially trained models −
    standard (noise √2·sd; under KAR, G leaves out the L2-trained nets, the paper's exception);
    ``<mode>_<method>_<objective>_l2_minus_linf`` = mean gap of the L2 curve over the L∞ curve at matched clean
    accuracy (noise √2·sd).
    """
    from scipy.stats import t as student_t

    out: dict[str, Any] = {}
    by = {m.name: m for m in models}
    n = int(noise_sd.get("n", 0))
    q = float(student_t.ppf(0.975, n - 1)) if n > 1 else float("nan")
    for mode in ("roar", "kar"):
        sd = noise_sd.get(mode, float("nan"))
        for meth in methods:
            for norm, obj in PANELS:
                chain = panel(list(models), norm, obj)
                if len(chain) < 2:
                    continue
                s = np.array([scores[f"{m.name}/{meth}"][mode] for m in chain])
                eps = np.array([m.eps for m in chain])
                acc = np.array([clean_acc[m.name] for m in chain])
                tag = f"{mode}_{meth.lower()}_{norm}_{obj}"
                out[f"rise_{tag}"] = _noise_interval(s[-1] - s[0], np.sqrt(2) * sd, q)
                out[f"spearman_eps_{tag}"] = spearman(eps, s)
                out[f"pearson_eps_{tag}"] = pearson(eps, s)
                out[f"spearman_acc_{tag}"] = spearman(acc, s)
                out[f"pearson_acc_{tag}"] = pearson(acc, s)
            # the paper's own exception (L2-trained nets' G under KAR) is left out of its "every adversarially
            # trained net beats the standard one"
            adv = [scores[f"{name}/{meth}"][mode] for name, m in by.items() if m.norm is not None
                   and not (mode == "kar" and meth == "G" and m.norm == "l2")]
            out[f"{mode}_{meth.lower()}_adv_minus_std"] = _noise_interval(min(adv) - scores[f"standard/{meth}"][mode],
                                                                           np.sqrt(2) * sd, q)
            for obj in sorted({m.objective for m in models if m.norm is not None}):
                a, b = panel(list(models), "l2", obj), panel(list(models), "linf", obj)
                gap = _matched_gap(np.array([clean_acc[m.name] for m in a]),
                                   np.array([scores[f"{m.name}/{meth}"][mode] for m in a]),
                                   np.array([clean_acc[m.name] for m in b]),
                                   np.array([scores[f"{m.name}/{meth}"][mode] for m in b]))
                out[f"{mode}_{meth.lower()}_{obj}_l2_minus_linf"] = _noise_interval(gap, np.sqrt(2) * sd, q)
        if {"G", "GX"} <= set(methods):
            d = [scores[f"{name}/GX"][mode] - scores[f"{name}/G"][mode] for name in by]
            out[f"{mode}_gx_minus_g"] = _noise_interval(float(np.mean(d)), np.sqrt(2) * sd / np.sqrt(len(d)), q)
    return out
