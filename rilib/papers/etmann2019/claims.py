"""Etmann et al. (2019): per-model summaries and the statistics the chapter's verdicts read.

Every statistic here is a function of the cohort's per-point measurements (:func:`rilib.papers.etmann2019.measure`)
and comes with a 95 % percentile bootstrap interval over the evaluation points (:func:`rilib.evaluation.bootstrap`:
one resample of the points is applied to every model, since every model is measured on the same points). Only the
non-degenerate models enter (:data:`DEGENERATE_ACC_DROP`); the models' own randomness (training seeds) is not
resampled — one model per λ is trained, as in the paper.

Per-model quantities (:func:`model_medians`), "M" = median over the evaluation points, failed attacks = +∞:

* M[α], M[α†], M[ρ̃] (eqs. 7, 11, 9) and the attacks' actual perturbation norms M[ρ_grad], M[ρ_BIM], M[ρ_CW];
* the shares of the right-hand sides of the bounds, as the paper's "portion of the right-hand side" — each summand's
  median over the sum of the summands' medians: Fig 6 / ineq. (18) M[α†] / (M[α†] + M[|β†|/‖g†‖]); Fig 7 / (19)
  M[α] / (M[α] + M[‖x‖‖ḡ† − ḡ‖] + M[|β†|/‖g†‖]); Fig 8 / (20) M[|⟨ξ, γ̄⟩|] / (M[|⟨ξ, γ̄⟩|] + M[‖ξ‖‖ḡ† − γ̄‖]);
* Fig 9: M[|⟨x, g†⟩|] / M[|Ψ†(x)|].
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...evaluation import Interval, bootstrap, fraction_greater, median, min_pairwise_spearman, pearson, \
    quadratic_coefficient, spearman
from .cohorts import ROBUSTNESS_NOTIONS, CohortModel

__all__ = ["attack_comparison", "summarize", "shown_index", "DEGENERATE_ACC_DROP", "degenerate", "model_medians", "NOTION_KEYS",
           "alignment_statistics", "pointwise_statistics", "bound_statistics", "saliency_statistics",
           "N_BOOT"]

#: a model whose test accuracy is more than this below the cohort's best counts as degenerate
DEGENERATE_ACC_DROP = 0.05

#: bootstrap replicates of every interval
N_BOOT = 1000

#: per-point array of each robustness notion (the attacks' actual L2 perturbation norms)
NOTION_KEYS = {"rho_tilde": "rho_tilde", "gradient": "dist_gradient", "bim": "dist_bim_l2", "cw": "dist_cw"}


def degenerate(models: Sequence[CohortModel]) -> list[bool]:
    """Etmann et al. chose their λ range "before the models start to degenerate"; our short training reaches that
    point inside the grid, so a model whose test accuracy is more than :data:`DEGENERATE_ACC_DROP` below the
    cohort's best is flagged and left out of every cohort statistic (the pages show it grey)."""
    best = max(cm.entry.test_acc for cm in models)
    return [bool(cm.entry.test_acc < best - DEGENERATE_ACC_DROP) for cm in models]


def model_medians(m: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The per-model medians and shares listed in the module docstring (from one model's per-point arrays)."""
    M = {k: median(m[k]) for k in ("alpha", "alpha_dagger", "rho_tilde", "beta_term", "angle_term", "xi_alignment",
                                   "xi_angle_term") if k in m}
    for notion, key in NOTION_KEYS.items():
        if notion != "rho_tilde" and key in m:
            M[notion] = median(m[key])
    if "beta_term" in M:
        M["share_18"] = M["alpha_dagger"] / (M["alpha_dagger"] + M["beta_term"])
        M["share_19"] = M["alpha"] / (M["alpha"] + M["angle_term"] + M["beta_term"])
    if "xi_alignment" in M:
        M["share_20"] = M["xi_alignment"] / (M["xi_alignment"] + M["xi_angle_term"])
    if "linear_dagger" in m:
        M["ratio_9"] = median(np.abs(m["linear_dagger"])) / median(np.abs(m["psi_dagger"]))
    return M


def summarize(models: list[CohortModel], measurements: list[dict[str, Any]]):
    """One row per model: λ, accuracy, the medians and shares of :func:`model_medians`, the failure share of each
    attack and the degenerate flag."""
    import pandas as pd

    rows = []
    for cm, m, deg in zip(models, measurements, degenerate(models)):
        M = model_medians(m)
        row = {"lam_paper": cm.lam_paper, "lam_per_example": cm.lam, "test_acc": cm.entry.test_acc,
               "M_alpha": M["alpha"], "M_alpha_dagger": M["alpha_dagger"], "M_rho_tilde": M["rho_tilde"]}
        for k in ("gradient", "bim", "cw"):
            row[f"M_{k}"] = M[k]
            row[f"fail_{k}"] = float(np.mean(~np.isfinite(m[NOTION_KEYS[k]])))
        row["M_bim_eps"] = median(m["dist_bim"])
        row.update(share_alpha_dagger_18=M["share_18"], share_alpha_19=M["share_19"], share_xi_20=M["share_20"],
                   ratio_linear_9=M["ratio_9"], degenerate=deg)
        rows.append(row)
    return pd.DataFrame(rows)


def shown_index(table) -> int:
    """The model a one-model figure shows (Figs 4, 5): the median-λ model among the non-degenerate ones (the
    paper does not say which model it shows)."""
    ok = [i for i, d in enumerate(table.degenerate) if not d]
    return ok[len(ok) // 2]


def _kept(models, measurements, keys):
    keep = [i for i, d in enumerate(degenerate(models)) if not d]
    per_model = [{k: np.asarray(measurements[i][k], dtype=float) for k in keys} for i in keep]
    return keep, per_model


def _by_robustness(Ms: list[dict[str, float]]) -> list[dict[str, float]]:
    return sorted(Ms, key=lambda M: M["rho_tilde"])


_CURVE_KEYS = ("alpha", "alpha_dagger", *NOTION_KEYS.values())


def alignment_statistics(models: list[CohortModel], measurements: list[dict[str, Any]], *,
                         n_boot: int = N_BOOT) -> dict[str, Any]:
    """Figs 2/3 (claims c1, c2, c3, sec4-lambda, fig2-rhotilde-median, fig2-attacks-agree, fig4-binarized's c1
    half), over the non-degenerate models, each with a bootstrap interval:

    * ``spearman_<notion>``: Spearman across models of M[ρ_notion] and M[α] (c1); ``spearman_dagger_<notion>`` the
      same with M[α†];
    * ``curvature``: :func:`rilib.evaluation.quadratic_coefficient` of M[α] against M[ρ̃] (< 0 saturating,
      > 0 superlinear; c2);
    * ``attack_gap_min``: min over models of 1 − max(M[ρ_BIM], M[ρ_CW]) / M[ρ_grad] with the attacks' actual
      perturbation norms (> 0: both below the gradient attack for every model; c3);
    * ``spearman_lambda_cw``: Spearman of λ and M[ρ_CW] (sec4-lambda);
    * ``rho_tilde_over_cw_min`` / ``_max``: extremes over models of M[ρ̃]/M[ρ_CW];
    * ``rank_agreement_min``: min over the six pairs of notions of the Spearman of their per-model medians.
    """
    keep, per_model = _kept(models, measurements, _CURVE_KEYS)
    lams = np.array([models[i].lam_paper for i in keep])

    def stat(pm):
        Ms = [model_medians(m) for m in pm]
        col = lambda k: np.array([M[k] for M in Ms])  # noqa: E731
        out = {}
        for notion in ROBUSTNESS_NOTIONS:
            out[f"spearman_{notion}"] = spearman(col(notion), col("alpha"))
            out[f"spearman_dagger_{notion}"] = spearman(col(notion), col("alpha_dagger"))
        out["curvature"] = quadratic_coefficient(col("rho_tilde"), col("alpha"))
        grad, other = col("gradient"), np.maximum(col("bim"), col("cw"))
        gap = np.where(np.isinf(grad) & np.isfinite(other), 1.0, 1.0 - other / grad)
        out["attack_gap_min"] = float(np.min(gap)) if not np.isnan(gap).any() else math.nan
        out["spearman_lambda_cw"] = spearman(lams, col("cw"))
        ratio = col("rho_tilde") / col("cw")
        out["rho_tilde_over_cw_min"], out["rho_tilde_over_cw_max"] = float(ratio.min()), float(ratio.max())
        out["rank_agreement_min"] = min_pairwise_spearman([col(n) for n in ROBUSTNESS_NOTIONS])
        return out

    res = bootstrap(stat, per_model, n_boot=n_boot)
    res["n_models"] = len(keep)
    res["degenerate"] = len(models) - len(keep)
    return res


def pointwise_statistics(models: list[CohortModel], measurements: list[dict[str, Any]], *,
                         n_boot: int = N_BOOT) -> dict[str, Any]:
    """Figs 4/5 (claims c4, c5, fig4-binarized, fig4-median-zero) over the non-degenerate models, with intervals:

    * ``pearson_cw_min``: min over models of Pearson(ρ̃(x), ρ_CW(x)) over the points where CW succeeded (c4);
    * ``spearman_alpha_median`` / ``spearman_alpha_max_abs``: median / max |·| over models of Spearman(ρ̃(x), α(x))
      (c5), and ``spearman_alpha_dagger_median`` / ``_max_abs`` with α† (fig4-binarized);
    * ``median_zero_ratio_max``: max over models of |M[⟨x, ḡ⟩]| / M[|⟨x, ḡ⟩|] (fig4-median-zero).
    """
    keep, per_model = _kept(models, measurements, ("rho_tilde", "alpha", "alpha_dagger", "dist_cw", "signed_alpha"))

    def stat(pm):
        sp_a = [spearman(m["rho_tilde"], m["alpha"]) for m in pm]
        sp_d = [spearman(m["rho_tilde"], m["alpha_dagger"]) for m in pm]
        pc = [pearson(m["rho_tilde"], m["dist_cw"]) for m in pm]
        mz = [abs(median(m["signed_alpha"])) / median(np.abs(m["signed_alpha"])) for m in pm]
        nanmin = lambda v: math.nan if any(map(math.isnan, v)) else float(np.min(v))  # noqa: E731
        nanmed = lambda v: math.nan if any(map(math.isnan, v)) else float(np.median(v))  # noqa: E731
        nanmaxabs = lambda v: math.nan if any(map(math.isnan, v)) else float(np.max(np.abs(v)))  # noqa: E731
        return {"pearson_cw_min": nanmin(pc), "spearman_alpha_median": nanmed(sp_a),
                "spearman_alpha_max_abs": nanmaxabs(sp_a), "spearman_alpha_dagger_median": nanmed(sp_d),
                "spearman_alpha_dagger_max_abs": nanmaxabs(sp_d), "median_zero_ratio_max": nanmaxabs(mz)}

    return bootstrap(stat, per_model, n_boot=n_boot)


_BOUND_KEYS = ("alpha", "alpha_dagger", "rho_tilde", "beta_term", "angle_term", "xi_alignment", "xi_angle_term",
               "linear_dagger", "psi_dagger")


def bound_statistics(models: list[CohortModel], measurements: list[dict[str, Any]], *,
                     n_boot: int = N_BOOT) -> dict[str, Any]:
    """Figs 6–9 (claims c6–c9, fig7-looser) over the non-degenerate models ordered by M[ρ̃], with intervals:

    * ``share_18_spearman``, ``share_20_spearman``, ``ratio_9_spearman``: Spearman of the share against M[ρ̃];
    * ``share_19_growth``: share of the most robust model / share of the least robust (c7, paper ≈ 7);
    * ``share_<k>_range``: max − min of the share over the cohort; ``share_19_range_minus_18`` and
      ``share_20_range_minus_18``: its range minus the range of the Fig 6 share (< 0: roughly constant compared
      with the variation of Fig 6; c7, c8);
    * ``ratio_9_max_low``: largest Fig 9 ratio over the less robust half of the models; ``ratio_9_last``: the
      ratio of the most robust model (c9);
    * ``share_gap_18_19_min``: min over models of share(18) − share(19) (> 0: α's share in (19) is smaller than α†'s
      in (18) for every model; fig7-looser).
    """
    keep, per_model = _kept(models, measurements, _BOUND_KEYS)

    def stat(pm):
        Ms = _by_robustness([model_medians(m) for m in pm])
        col = lambda k: np.array([M[k] for M in Ms])  # noqa: E731
        r = col("rho_tilde")
        out = {}
        for k in ("18", "19", "20"):
            s = col(f"share_{k}")
            out[f"share_{k}_spearman"] = spearman(r, s)
            out[f"share_{k}_range"] = float(np.ptp(s))
            out[f"share_{k}_growth"] = float(s[-1] / s[0]) if s[0] else math.nan
        out["share_19_range_minus_18"] = out["share_19_range"] - out["share_18_range"]
        out["share_20_range_minus_18"] = out["share_20_range"] - out["share_18_range"]
        q = col("ratio_9")
        out["ratio_9_spearman"] = spearman(r, q)
        out["ratio_9_max_low"] = float(np.max(q[: max(1, len(q) // 2)]))
        out["ratio_9_last"] = float(q[-1])
        out["share_gap_18_19_min"] = float(np.min(col("share_18") - col("share_19")))
        return out

    return bootstrap(stat, per_model, n_boot=n_boot)


def saliency_statistics(models: list[CohortModel], measurements: list[dict[str, Any]], *,
                        n_boot: int = N_BOOT) -> dict[str, Any]:
    """Figs 1/10: the least and the most robust non-degenerate model (by M[ρ̃]); share of evaluation points on
    which the most robust model has the larger α (``alpha_larger``), α† (``alpha_dagger_larger``) and alignment at
    ξ, |⟨ξ, γ̄⟩| (``xi_larger``), with intervals; ``least`` / ``most`` are their indices in ``models``."""
    keep, per_model = _kept(models, measurements, ("alpha", "alpha_dagger", "xi_alignment", "rho_tilde"))
    rho = [median(m["rho_tilde"]) for m in per_model]
    lo, hi = int(np.argmin(rho)), int(np.argmax(rho))

    def stat(pm):
        a, b = pm[hi], pm[lo]
        return {f"{k}_larger": fraction_greater(a[key], b[key]) for k, key in
                (("alpha", "alpha"), ("alpha_dagger", "alpha_dagger"), ("xi", "xi_alignment"))}

    res = bootstrap(stat, per_model, n_boot=n_boot)
    res.update(least=keep[lo], most=keep[hi])
    return res


def _median_ratio(a: np.ndarray, b: np.ndarray) -> float:
    """median(a) / median(b) over the points where both attacks succeeded (finite); NaN if there is none."""
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.median(a[ok]) / np.median(b[ok])) if ok.any() else float("nan")


def attack_comparison(chk: Mapping[str, Any]) -> dict[str, Any]:
    """The minimal-norm attacks of :func:`rilib.papers.etmann2019.cw_check` on the same points, against the long CW
    run: the ratios of the medians (finite points of both), DDN's time over the profile's CW time, the largest
    difference between the profile's CW distances in the measurement and re-run on these points alone (over the
    points both runs solved; 0 when a point's answer depends neither on its batch nor on the process) and the
    number of points that one run solved and the other not, and a table of medians, failures and times."""
    cw, long, ddn, rerun = (np.asarray(chk[k], dtype=float) for k in ("cw", "cw_long", "ddn", "cw_rerun"))
    both = np.isfinite(cw) & np.isfinite(rerun)
    diff = float(np.max(np.abs(cw[both] - rerun[both]))) if both.any() else float("nan")
    flips = int((np.isfinite(cw) != np.isfinite(rerun)).sum())
    table = {}
    for label, k, d in (("CW (profile)", "cw_rerun", cw), ("CW (long)", "cw_long", long), ("DDN", "ddn", ddn)):
        table[f"median {label}"] = float(np.median(d))
        table[f"failures {label}"] = int((~np.isfinite(d)).sum())
        table[f"seconds {label}"] = float(chk[f"seconds_{k}"])
    return {"cw_over_long": _median_ratio(cw, long), "ddn_over_long": _median_ratio(ddn, long),
            "ddn_time_over_cw": float(chk["seconds_ddn"]) / float(chk["seconds_cw_rerun"]),
            "cw_rerun_max_diff": diff, "cw_rerun_flips": flips, "table": table}
