"""Wang et al. (2022), part 1: the statistics the verdicts read (Tables 1, 4, 5).

Table 1 per image: the raw ℓ2 distance ‖X − Y‖₂ of the signed maps (as the paper) and the scale-free cosine
distance 1 − cos(X, Y) (robust gradients are smaller overall, so raw norms mix alignment with scale); a model's
value is the mean over its images with a t-interval; "robust below standard" is the Welch interval of the
difference of means (the models have their own image sets). Table 5: the average distance over the points a stage
succeeded on, the success rate and the per-instance time; a stage's gain is the mean distance reduction over the
points already successful before it (paired), with a t-interval.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...evaluation.intervals import Interval, t_interval, welch_interval

__all__ = ["PAIRS", "pair_distances", "table1_row", "robust_gap", "table5_rows", "stage_gain",
           "relative_completeness_gap", "symmetry_gap", "smoothing_trend", "median_interval",
           "randomisation_stats", "gradient_misses", "theorem33_stats"]

#: Table 1's rows: (name, X, Y)
PAIRS = (("sm_bsm", "sm", "bsm"), ("ig_agi", "ig", "agi"), ("ig_big", "ig", "big"))


def pair_distances(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per image: ``<pair>_raw`` = ‖X − Y‖₂ and ``<pair>_cos`` = 1 − cos(X, Y) for every pair of :data:`PAIRS`."""
    out = {}
    for name, a, b in PAIRS:
        X = maps[a].reshape(len(maps[a]), -1).astype(np.float64)
        Y = maps[b].reshape(len(maps[b]), -1).astype(np.float64)
        out[f"{name}_raw"] = np.linalg.norm(X - Y, axis=1)
        den = np.linalg.norm(X, axis=1) * np.linalg.norm(Y, axis=1)
        out[f"{name}_cos"] = 1.0 - np.sum(X * Y, axis=1) / np.where(den > 0, den, np.nan)
    return out


def table1_row(d: dict[str, np.ndarray]) -> dict[str, Interval]:
    """Mean (t-interval over images) of every per-image distance of :func:`pair_distances`."""
    return {k: t_interval(v[np.isfinite(v)]) for k, v in d.items()}


def robust_gap(standard: np.ndarray, robust: np.ndarray) -> Interval:
    """mean(standard) − mean(robust), Welch interval: above 0 when the robust model's maps are closer."""
    return welch_interval(standard[np.isfinite(standard)], robust[np.isfinite(robust)])


def table5_rows(s: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One row per stage of a cached search: average ℓ2 distance over the points found so far, success rate,
    cumulative per-instance seconds."""
    rows, spent, n = [], 0.0, len(s["success"])
    for i, st in enumerate(s["stages"]):
        st = str(st)
        ok = s[f"success_{st}"].astype(bool)
        spent += float(s["seconds"][i])
        rows.append({"stage": st, "avg distance": float(np.mean(s[f"l2_{st}"][ok])) if ok.any() else float("nan"),
                     "median distance": float(np.median(s[f"l2_{st}"][ok])) if ok.any() else float("nan"),
                     "success": float(ok.mean()), "s / instance (cumulative)": spent / n})
    return rows


def stage_gain(s: dict[str, np.ndarray], before: str, after: str) -> tuple[Interval, float, float]:
    """Adding stage ``after`` to the search up to ``before``: (mean distance reduction over the points successful
    at ``before``, t-interval; that reduction relative to their mean distance; the success-rate gain)."""
    ok = s[f"success_{before}"].astype(bool)
    red = s[f"l2_{before}"][ok] - s[f"l2_{after}"][ok]
    gain = t_interval(red) if ok.sum() > 1 else Interval(float("nan"), float("nan"), float("nan"))
    rel = float(red.mean() / s[f"l2_{before}"][ok].mean()) if ok.any() else float("nan")
    return gain, rel, float(s[f"success_{after}"].mean() - s[f"success_{before}"].mean())


def relative_completeness_gap(total: np.ndarray, delta_f: np.ndarray) -> np.ndarray:
    """|Σ attribution − (f_c(x) − f_c(x′))| / |f_c(x) − f_c(x′)| per image (Table 4, completeness)."""
    return np.abs(total - delta_f) / np.abs(delta_f)


def symmetry_gap(a: np.ndarray, i: int = 0, j: int = 1) -> float:
    """max over examples of |a_i − a_j| / (|a_i| + |a_j|): 0 when the two features always get the same share."""
    a = a.reshape(len(a), -1)
    den = np.abs(a[:, i]) + np.abs(a[:, j])
    return float(np.max(np.abs(a[:, i] - a[:, j]) / np.where(den > 0, den, 1.0)))


def smoothing_trend(sigmas: np.ndarray, distance: np.ndarray, success: np.ndarray) -> Any:
    """Fig 11: Spearman correlation of σ with the median log ‖SG(x) − SG(x′)‖₂ over the points whose smoothed-model
    search succeeded at that σ, with a bootstrap interval over images (the same images at every σ)."""
    from ...evaluation.intervals import bootstrap
    from ...evaluation.stats import spearman

    per = [{"d": distance[i], "ok": success[i].astype(float)} for i in range(len(sigmas))]

    def stat(ms):
        med = [np.median(np.log(m["d"][m["ok"] > 0])) if (m["ok"] > 0).any() else np.nan for m in ms]
        return spearman(np.asarray(sigmas, dtype=float), np.asarray(med))

    return bootstrap(stat, per)


def median_interval(values: np.ndarray) -> Interval:
    """Median with a 95 % percentile bootstrap interval over the values."""
    from ...evaluation.intervals import bootstrap

    return bootstrap(lambda ms: float(np.median(ms[0]["v"])), [{"v": np.asarray(values, dtype=float)}])


def randomisation_stats(spearman: np.ndarray) -> dict[str, Interval]:
    """Fig 15 from the (n_stages, N) Spearman correlations of :func:`rilib.papers.wang2022.sanity.cascading_big`
    (row 0 the intact model): ``last`` = the median over images at the fully randomised stage, ``drop`` = the
    median after the first randomised stage minus ``last``; percentile-bootstrap intervals over images (paired)."""
    s = np.asarray(spearman, dtype=float)
    if s.shape[0] < 2:
        raise ValueError("randomisation_stats needs the intact row and at least one randomised stage")
    from ...evaluation.intervals import bootstrap

    def stat(ms):
        first, last = float(np.median(ms[0]["first"])), float(np.median(ms[0]["last"]))
        return {"last": last, "drop": first - last}

    return bootstrap(stat, [{"first": s[1], "last": s[-1]}])


def gradient_misses(l2_gradient: np.ndarray, l2_boundary: np.ndarray, cos_sm_bsm: np.ndarray) -> dict[str, Interval]:
    """Sec 3.2 per model: ``ratio`` = the median over points of (distance a line search along the gradient needs) /
    (distance to the ensemble's boundary point) — above 1 when the gradient does not point at the nearest boundary
    (+inf where the line search fails, which counts as a miss) —, and ``cos`` = the median cos(SM, BSM); points where
    the ensemble found nothing are left out; percentile-bootstrap intervals over points (paired)."""
    from ...evaluation.intervals import bootstrap

    ok = np.isfinite(l2_boundary) & (l2_boundary > 0) & np.isfinite(cos_sm_bsm)
    r = np.asarray(l2_gradient, dtype=float)[ok] / np.asarray(l2_boundary, dtype=float)[ok]
    return bootstrap(lambda ms: {"ratio": float(np.median(ms[0]["r"])), "cos": float(np.median(ms[0]["c"]))},
                     [{"r": r, "c": np.asarray(cos_sm_bsm, dtype=float)[ok]}])


def theorem33_stats(sigmas, r: dict[str, np.ndarray], *, tol: float = 1e-9) -> dict[str, Any]:
    """Theorem 3.3 from :func:`rilib.papers.wang2022.smoothing.theorem33`'s (n_sigma, N) arrays, over the points
    whose boundary search succeeded at every σ: ``violations`` (pairs with ‖g(x) − g(x′)‖ > λ + tol),
    ``lambda_monotone`` (1.0 when the theorem's λ — ``lam_fixed``: ‖w_i‖, ‖x‖ and r held constant — never increases
    with σ at any point, else 0.0), ``spearman`` = Spearman(σ, the median ‖g(x) − g(x′)‖ over the points) with a
    percentile-bootstrap interval over points."""
    from ...evaluation.intervals import bootstrap
    from ...evaluation.stats import spearman

    ok = r["success"].astype(bool).all(0)
    d, lam = r["distance"][:, ok], r["lam"][:, ok]
    lam_fixed = r.get("lam_fixed", r["lam"])[:, ok]
    sig = np.asarray(sigmas, dtype=float)
    trend = bootstrap(lambda ms: spearman(sig, np.asarray([np.median(m["d"]) for m in ms])),
                      [{"d": row} for row in d])
    return {"violations": int((d > lam + tol).sum()),
            "lambda_monotone": float(bool((np.diff(lam_fixed, axis=0) <= tol).all())), "spearman": trend,
            "median_distance": np.median(d, axis=1), "median_lambda": np.median(lam, axis=1), "points": int(ok.sum())}
