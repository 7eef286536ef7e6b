"""Wang et al. (2022), part 2: the statistics the localisation verdicts read (Tables 2, 3, 8; Figs 5–7, 12–14, 18).

Scores are per image (:func:`rilib.evaluation.localisation_scores`); a method's score on a model is the mean over
the model's images. Comparisons within a model are paired (the same images for every method:
:func:`rilib.evaluation.bootstrap`); comparisons between the standard and the robust model resample each model's
own images independently (:func:`rilib.evaluation.bootstrap_independent`). "Best" is a margin: the bootstrap
interval of mean(BIG) − max over the other methods of their mean, so a tie (the interval straddles 0) reads
inconclusive and a better competitor reads diverges.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...evaluation import localisation as L
from ...evaluation.intervals import Interval, bootstrap, bootstrap_independent
from ...evaluation.stats import pearson, spearman
from .claims import PAIRS, pair_distances  # Table 2's rows are Table 1's pairs (name, X, Y)

__all__ = ["METRICS", "PAIRS", "scores", "flatten", "means", "margin", "difference", "significantly_better",
           "robust_minus_standard", "boundary_pp_gain", "bigp_vs_agi", "bigp_big_reldiff", "alignment",
           "alignment_stats", "gtloc_hits", "gtloc_auc", "best_q", "kendall_tau", "blur_stats",
           "baseline_stats", "counterfactual_stats", "multiobject_stats", "box_share"]

#: Table 3's metrics
METRICS = ("loc", "eg", "pp", "con")


def scores(maps: Mapping[str, np.ndarray], boxes: np.ndarray, methods: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    """``{method: {metric: per-image score}}`` for the signed (N, H, W) maps of ``methods``."""
    return {m: L.localisation_scores(np.asarray(maps[m], dtype=np.float64), boxes) for m in methods}


def flatten(s: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``{"<method>:<metric>": per-image array}`` (the per-point dict the bootstraps resample)."""
    return {f"{m}:{k}": v for m, d in s.items() for k, v in d.items()}


def means(s: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """``{method: {metric: mean over images}}`` (NaN images dropped)."""
    return {m: {k: float(np.nanmean(v)) for k, v in d.items()} for m, d in s.items()}


def _mean(d: Mapping[str, np.ndarray], name: str) -> float:
    return float(np.nanmean(d[name]))


def margin(s: Mapping[str, Mapping[str, np.ndarray]], metric: str, *, best: str = "big", exclude: Sequence[str] = (),
           n_boot: int = 1000, seed: int = 0) -> Interval:
    """mean(``best``) − max over the other methods (not in ``exclude``) of their mean, on ``metric``; paired
    bootstrap over images. Above 0: ``best`` is first; straddling 0: tied with the runner-up."""
    others = [m for m in s if m != best and m not in exclude]
    if not others:
        raise ValueError("margin needs at least one other method")

    def stat(p):
        d = p[0]
        return _mean(d, f"{best}:{metric}") - max(_mean(d, f"{o}:{metric}") for o in others)

    return bootstrap(stat, [flatten(s)], n_boot=n_boot, seed=seed)


def difference(s: Mapping[str, Mapping[str, np.ndarray]], metric: str, a: str, b: str, *, n_boot: int = 1000,
               seed: int = 0) -> Interval:
    """mean(``a``) − mean(``b``) on ``metric``, paired bootstrap over images."""
    return bootstrap(lambda p: _mean(p[0], f"{a}:{metric}") - _mean(p[0], f"{b}:{metric}"), [flatten(s)],
                     n_boot=n_boot, seed=seed)


def significantly_better(s: Mapping[str, Mapping[str, np.ndarray]], method: str, baseline: str,
                         reference: Sequence[str], *, n_boot: int = 1000, seed: int = 0) -> int:
    """How many of the 2 × 4 comparisons put ``method`` significantly above (interval entirely > 0): vs ``baseline``
    and vs the median of the ``reference`` methods' means, on each of :data:`METRICS`."""
    count = 0
    for metric in METRICS:
        if difference(s, metric, method, baseline, n_boot=n_boot, seed=seed).lo > 0:
            count += 1

        def stat(p, metric=metric):
            d = p[0]
            return _mean(d, f"{method}:{metric}") - float(np.median([_mean(d, f"{r}:{metric}") for r in reference]))

        if bootstrap(stat, [flatten(s)], n_boot=n_boot, seed=seed).lo > 0:
            count += 1
    return count


def robust_minus_standard(standard: Mapping[str, Mapping[str, np.ndarray]],
                          robust: Mapping[str, Mapping[str, np.ndarray]], *, metrics: Sequence[str] = ("eg", "con"),
                          n_boot: int = 1000, seed: int = 0) -> Interval:
    """min over methods and ``metrics`` of mean(robust) − mean(standard); each model's images resampled on their
    own. Above 0: every method scores higher on the robust model on every metric."""
    methods = [m for m in standard if m in robust]

    def stat(p):
        return min(_mean(p[1], f"{m}:{k}") - _mean(p[0], f"{m}:{k}") for m in methods for k in metrics)

    return bootstrap_independent(stat, [flatten(standard), flatten(robust)], n_boot=n_boot, seed=seed)


def boundary_pp_gain(standard: Mapping[str, Mapping[str, np.ndarray]], robust: Mapping[str, Mapping[str, np.ndarray]],
                     *, n_boot: int = 1000, seed: int = 0) -> Interval:
    """min over the two models and over BIG, AGI of PP(method) − PP(IG) (paired within a model)."""
    def stat(p):
        return min(_mean(d, f"{m}:pp") - _mean(d, "ig:pp") for d in p for m in ("big", "agi"))

    return bootstrap_independent(stat, [flatten(standard), flatten(robust)], n_boot=n_boot, seed=seed)


def bigp_vs_agi(standard: Mapping[str, Mapping[str, np.ndarray]], robust: Mapping[str, Mapping[str, np.ndarray]], *,
                n_boot: int = 1000, seed: int = 0) -> Interval:
    """min over models and :data:`METRICS` of mean(BIGp) − mean(AGI) (Table 8: BIGp beats AGI everywhere)."""
    def stat(p):
        return min(_mean(d, f"bigp:{k}") - _mean(d, f"agi:{k}") for d in p for k in METRICS)

    return bootstrap_independent(stat, [flatten(standard), flatten(robust)], n_boot=n_boot, seed=seed)


def bigp_big_reldiff(*models: Mapping[str, Mapping[str, np.ndarray]]) -> float:
    """max over models and :data:`METRICS` of |mean(BIGp) − mean(BIG)| / |mean(BIG)| (Table 8: BIGp ≈ BIG)."""
    out = 0.0
    for s in models:
        mu = means(s)
        for k in METRICS:
            out = max(out, abs(mu["bigp"][k] - mu["big"][k]) / abs(mu["big"][k]))
    return out


def alignment(maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per image, the alignment −‖X − Y‖₂ of each pair of :data:`PAIRS` (Table 2; Table 1's raw distance)."""
    d = pair_distances(maps)
    return {name: -d[f"{name}_raw"] for name, _, _ in PAIRS}


def alignment_stats(maps: Mapping[str, np.ndarray], s: Mapping[str, Mapping[str, np.ndarray]], *,
                    n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Table 2: ``r`` = {pair: {metric: Pearson r across images of the alignment with X's score}}, and intervals
    (paired bootstrap over images) of ``loc_eg_min`` (the smallest of the six Loc / EG correlations),
    ``pp_con_maxabs`` (the largest |r| of the six PP / Con ones) and ``gap`` (mean of the Loc / EG correlations
    − mean of the PP / Con ones)."""
    al = alignment(maps)
    per = {**{f"al:{p}": v for p, v in al.items()},
           **{f"{x}:{k}": s[x][k] for _, x, _ in PAIRS for k in METRICS}}

    def table(d):
        return {p: {k: pearson(d[f"al:{p}"], d[f"{x}:{k}"]) for k in METRICS} for p, x, _ in PAIRS}

    def stat(p):
        r = table(p[0])
        le = [r[q][k] for q in r for k in ("loc", "eg")]
        pc = [r[q][k] for q in r for k in ("pp", "con")]
        return {"loc_eg_min": min(le), "pp_con_maxabs": max(abs(v) for v in pc),
                "gap": float(np.mean(le) - np.mean(pc))}

    return {"r": table(per), **bootstrap(stat, [per], n_boot=n_boot, seed=seed)}


def gtloc_hits(maps: Mapping[str, np.ndarray], boxes: np.ndarray, methods: Sequence[str], qs: Sequence[float], *,
               blur_sigma: float = 0.0) -> dict[str, np.ndarray]:
    """``{method: (len(qs), N) bool}``: per q and image, IoU > 0.5 between the box around the largest component of
    the pixels with |g| above its q-th percentile and the true box (:func:`rilib.evaluation.gt_loc`)."""
    return {m: L.gt_loc(np.asarray(maps[m], dtype=np.float64), boxes, qs=qs, blur_sigma=blur_sigma) for m in methods}


def gtloc_auc(hits: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per method and image, the mean over the q grid of the hits (the area under the GT-Loc(q) curve, per image:
    its mean over images is the curve's mean height)."""
    return {m: h.mean(axis=0) for m, h in hits.items()}


def gtloc_margin(auc: Mapping[str, np.ndarray], best: str, *, exclude: Sequence[str] = (), n_boot: int = 1000,
                 seed: int = 0) -> Interval:
    """mean AUC(``best``) − max over the other methods (not in ``exclude``) of their mean AUC; paired bootstrap."""
    others = [m for m in auc if m != best and m not in exclude]

    def stat(p):
        d = p[0]
        return float(d[best].mean()) - max(float(d[o].mean()) for o in others)

    return bootstrap(stat, [dict(auc)], n_boot=n_boot, seed=seed)


def best_q(hits: Mapping[str, np.ndarray], qs: Sequence[float]) -> dict[str, float]:
    """Per method the q of the highest GT-Loc (the first one on ties)."""
    q = np.asarray(qs, dtype=float)
    return {m: float(q[int(np.argmax(h.mean(axis=1)))]) for m, h in hits.items()}


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's τ-b between two score lists (the rankings of the same methods)."""
    from scipy.stats import kendalltau

    return float(kendalltau(np.asarray(a, dtype=float), np.asarray(b, dtype=float)).statistic)


def blur_stats(auc: Mapping[str, np.ndarray], auc_blur: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Fig 14: ``tau`` (Kendall's τ of the methods' mean AUC without vs with blur) and ``change`` (mean over
    methods of |mean AUC with blur − without|)."""
    methods = list(auc)
    a = [float(auc[m].mean()) for m in methods]
    b = [float(auc_blur[m].mean()) for m in methods]
    return {"tau": kendall_tau(a, b), "change": float(np.mean(np.abs(np.subtract(a, b))))}


def baseline_stats(eg: Mapping[str, np.ndarray], inverted: np.ndarray, maps: Mapping[str, np.ndarray], *,
                   n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Fig 7 on one model. ``eg`` holds per-image EG of ``ig`` (black baseline), ``ig_white`` and ``big``;
    ``inverted`` marks dark objects on a bright canvas. The *same-colour* baseline has the object's colour (white
    for a bright object, black for an inverted one), the *opposite* one the background's. Intervals (paired
    bootstrap over the images of each polarity, then the smaller of the two polarities): ``opposite_minus_same`` =
    EG(IG, opposite) − EG(IG, same); ``big_minus_same`` = EG(BIG) − EG(IG, same). ``agreement`` = mean Spearman
    ρ(BIG, BIGp) − mean ρ(IG black, IG white) over images (BIG's two searches agree more than IG's two baselines)."""
    inv = np.asarray(inverted, dtype=bool)
    # same colour: white for a bright object (not inverted), black for an inverted one
    same = np.where(inv, eg["ig"], eg["ig_white"])
    opposite = np.where(inv, eg["ig_white"], eg["ig"])
    per = {"same": same, "opposite": opposite, "big": eg["big"], "inv": inv.astype(float)}

    def stat(p):
        d = p[0]
        out = {"opposite_minus_same": [], "big_minus_same": []}
        for flag in (0.0, 1.0):  # each polarity present in the resample (a photograph set has one)
            k = d["inv"] == flag
            if k.any():
                out["opposite_minus_same"].append(float(np.nanmean(d["opposite"][k]) - np.nanmean(d["same"][k])))
                out["big_minus_same"].append(float(np.nanmean(d["big"][k]) - np.nanmean(d["same"][k])))
        return {name: (min(v) if v else float("nan")) for name, v in out.items()}

    def rho(a, b):
        return np.array([spearman(x.ravel(), y.ravel()) for x, y in zip(np.asarray(a), np.asarray(b))])

    agree = {"big": rho(maps["big"], maps["bigp"]), "ig": rho(maps["ig"], maps["ig_white"])}
    gap = bootstrap(lambda p: float(np.nanmean(p[0]["big"]) - np.nanmean(p[0]["ig"])), [agree], n_boot=n_boot,
                    seed=seed)
    return {**bootstrap(stat, [per], n_boot=n_boot, seed=seed), "agreement": gap,
            "rho_big": float(np.nanmean(agree["big"])), "rho_ig": float(np.nanmean(agree["ig"]))}


def box_share(maps: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, K): the share of each image's positive attribution inside each of its K boxes (``boxes`` (N, K, 4)) —
    the energy-based pointing game of each box (NaN where the map has no positive value)."""
    return np.stack([L.energy_game(maps, boxes[:, k]) for k in range(boxes.shape[1])], axis=1)


def _two_object_rows(t: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """BIG's :func:`box_share` per canvas and object, and which canvases count: predicted as the class of one of
    *their own* objects, with a boundary found and some positive mass."""
    share = box_share(t["big"], t["boxes"])
    own = np.any(np.asarray(t["labels"]) == np.asarray(t["pred"])[:, None], axis=1)
    return share, own & np.all(np.isfinite(share), axis=1) & np.asarray(t["success"]).astype(bool)


def counterfactual_stats(t: Mapping[str, np.ndarray], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Fig 12 on the two-object canvases the model assigns to one of their objects' classes: remove (fill with
    background) the object holding more of BIG's positive mass, or the other one; ``gap`` = rate of prediction
    changes after removing BIG's object − after removing the other (paired bootstrap); the two rates and N."""
    share, keep = _two_object_rows(t)
    top = np.argmax(share, axis=1)
    changed = t["pred_without"] != t["pred"][:, None]
    rows = np.arange(len(top))
    per = {"big": changed[rows, top][keep].astype(float), "other": changed[rows, 1 - top][keep].astype(float)}
    if not keep.any():
        nan = float("nan")
        return {"gap": Interval(nan, nan, nan, 0.95), "rate_big": nan, "rate_other": nan, "n": 0}
    gap = bootstrap(lambda p: float(p[0]["big"].mean() - p[0]["other"].mean()), [per], n_boot=n_boot, seed=seed)
    return {"gap": gap, "rate_big": float(per["big"].mean()), "rate_other": float(per["other"].mean()),
            "n": int(keep.sum())}


def multiobject_stats(t: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Fig 18 on the two-object canvases predicted as one of their objects' classes: ``wins`` = the fraction
    where BIG's positive mass inside the predicted object's box exceeds that inside the other object's box (with
    a Wilson interval), the mean shares, and N."""
    from ...evaluation.intervals import proportion_interval

    share, keep = _two_object_rows(t)
    pred_obj = np.argmax(t["labels"] == t["pred"][:, None], axis=1)
    rows = np.arange(len(pred_obj))
    mine, other = share[rows, pred_obj][keep], share[rows, 1 - pred_obj][keep]
    return {"wins": proportion_interval(int(np.sum(mine > other)), int(keep.sum())),
            "share_pred": float(mine.mean()) if keep.any() else float("nan"),
            "share_other": float(other.mean()) if keep.any() else float("nan"), "n": int(keep.sum())}
