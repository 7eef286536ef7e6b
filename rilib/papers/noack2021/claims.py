"""Noack et al. (2021): the statistics the chapter's verdicts read (book/claims.yaml, kind empirical).

Tables 1 / 2: per regime, accuracies per seed; a regime's value is the mean over seeds with its 95 % t-interval
(:func:`rilib.evaluation.t_interval`), and an order between two regimes is read from Welch's interval of the
difference of their means (:func:`rilib.evaluation.welch_interval`): "A above B" holds when the whole interval is
above 0, is inconclusive when it straddles 0. Table 3: per-image gradient norms pooled over the seeds, normal
intervals (the paper's pooled interval), differences and ratios of means with their normal / delta-method intervals.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...evaluation import (Interval, normal_interval, proportion_interval, ratio_interval, t_interval,
                           welch_interval)

__all__ = ["accuracy_table", "order_statistics", "gradient_statistics", "foreground_share", "share_statistics",
           "masking_verdicts",
           "key"]


def key(regime: str) -> str:
    """A regime's name as it appears in record names: ``ir-r-perm`` → ``irrperm``."""
    return regime.replace("-", "")


def accuracy_table(acc: Mapping[str, Mapping[str, Sequence[float]]], paper: Mapping[str, tuple[float, float]] | None,
                   labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows ``regime | clean (ours) | clean (paper) | Δ | PGD (ours) | PGD (paper) | Δ`` in percent, from
    ``acc[regime] = {"clean": per-seed accuracies, "adv": per-seed accuracies}`` and the paper's means."""
    rows = []
    for r, a in acc.items():
        row: dict[str, Any] = {"regime": labels[r]}
        for k, name in (("clean", "clean"), ("adv", "PGD")):
            iv = t_interval(a[k])
            ours = f"{100 * iv.estimate:.2f} ± {100 * (iv.hi - iv.estimate):.2f}" if not iv.isnan else \
                f"{100 * iv.estimate:.2f}"
            row[f"{name} % (ours)"] = ours
            if paper is not None and r in paper:
                p = paper[r][0 if k == "clean" else 1]
                row[f"{name} % (paper)"] = f"{p:.2f}"
                row[f"{name} Δ"] = f"{100 * iv.estimate - p:+.2f}"
        rows.append(row)
    return rows


def order_statistics(acc: Mapping[str, Mapping[str, Sequence[float]]], prefix: str,
                     pairs: Sequence[tuple[str, str]]) -> dict[str, Interval]:
    """Records for the verdicts of Tables 1 / 2:

    * ``<prefix>_clean_<r>``, ``<prefix>_adv_<r>``: mean over seeds with the t-interval;
    * ``<prefix>_adv_gap_<a>_<b>``: Welch interval of adv(a) − adv(b) for every pair in ``pairs``;
    * ``<prefix>_clean_cost_<r>``: Welch interval of clean(std) − clean(r) for every regime but std;
    * ``<prefix>_adv_best_margin_<r>``: adv(r) − adv(the best other regime by mean), Welch, for every regime.
    """
    out: dict[str, Interval] = {}
    for r, a in acc.items():
        out[f"{prefix}_clean_{key(r)}"] = t_interval(a["clean"])
        out[f"{prefix}_adv_{key(r)}"] = t_interval(a["adv"])
    for a, b in pairs:
        out[f"{prefix}_adv_gap_{key(a)}_{key(b)}"] = welch_interval(acc[a]["adv"], acc[b]["adv"])
    for r in acc:
        if r != "std":
            out[f"{prefix}_clean_cost_{key(r)}"] = welch_interval(acc["std"]["clean"], acc[r]["clean"])
        others = [o for o in acc if o != r]
        best = max(others, key=lambda o: float(np.mean(acc[o]["adv"])))
        out[f"{prefix}_adv_best_margin_{key(r)}"] = welch_interval(acc[r]["adv"], acc[best]["adv"])
    return out


def _diff(a: np.ndarray, b: np.ndarray) -> Interval:
    """mean(a) − mean(b) of two large independent samples, normal interval."""
    d = float(a.mean() - b.mean())
    h = 1.959963984540054 * float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
    return Interval(d, d - h, d + h)


def gradient_statistics(norms: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, Interval]:
    """Records for Table 3 from ``norms[regime] = {"correct": per-image norms, "others": per-image norms}`` (all
    seeds pooled):

    * ``grad_c_<r>``, ``grad_o_<r>``: pooled means with normal intervals (the paper's interval);
    * ``grad_ratio_<r>``: mean correct / mean others (delta method);
    * ``grad_c_gap_<a>_<b>``, ``grad_o_gap_<a>_<b>``: difference of means for every ordered pair;
    * ``grad_c_min_margin_<r>`` / ``grad_o_min_margin_<r>``: the next-smallest other regime's mean minus r's
      (> 0: r has the smallest norm);
    * ``grad_c_max_margin_<r>``: r's mean minus the largest other regime's but std (> 0: the largest of the
      defenses; for std itself: of all);
    * ``grad_c_rel_<r>``: r's mean correct-class norm / std's (delta method).
    """
    out: dict[str, Interval] = {}
    regs = list(norms)
    for r in regs:
        c, o = np.asarray(norms[r]["correct"], float), np.asarray(norms[r]["others"], float)
        out[f"grad_c_{key(r)}"] = normal_interval(c)
        out[f"grad_o_{key(r)}"] = normal_interval(o)
        out[f"grad_ratio_{key(r)}"] = ratio_interval(c, o)
    if "std" in norms:
        for r in regs:
            if r != "std":
                out[f"grad_c_rel_{key(r)}"] = ratio_interval(np.asarray(norms[r]["correct"], float),
                                                             np.asarray(norms["std"]["correct"], float))
    for a in regs:
        for b in regs:
            if a != b:
                for k, n in (("c", "correct"), ("o", "others")):
                    out[f"grad_{k}_gap_{key(a)}_{key(b)}"] = _diff(np.asarray(norms[a][n], float),
                                                                  np.asarray(norms[b][n], float))
    for r in regs:
        for k, n in (("c", "correct"), ("o", "others")):
            others = [o for o in regs if o != r]
            nxt = min(others, key=lambda o: float(np.mean(norms[o][n])))
            out[f"grad_{k}_min_margin_{key(r)}"] = _diff(np.asarray(norms[nxt][n], float),
                                                        np.asarray(norms[r][n], float))
        defenses = [o for o in regs if o not in ("std", r)]
        if defenses:
            top = max(defenses, key=lambda o: float(np.mean(norms[o]["correct"])))
            out[f"grad_c_max_margin_{key(r)}"] = _diff(np.asarray(norms[r]["correct"], float),
                                                      np.asarray(norms[top]["correct"], float))
    return out


def foreground_share(maps: np.ndarray, images: np.ndarray, *, level: float = 0.5) -> np.ndarray:
    """Per map: the share of its (non-negative) mass on foreground pixels, ``images > level`` (MNIST strokes);
    NaN for an all-zero map. The Fig 1/2 proxy of "the map captures the object"."""
    m = np.abs(np.asarray(maps, float)).reshape(len(maps), -1)
    fg = (np.asarray(images, float).reshape(len(images), -1) > level)
    tot = m.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, (m * fg).sum(1) / tot, np.nan)


def share_statistics(a: np.ndarray, b: np.ndarray) -> dict[str, Interval]:
    """Paired comparison of two per-image shares (NaNs dropped pairwise): ``diff`` = mean(a − b) with a normal
    interval over images, ``frac`` = share of images with a ≥ b (Wilson interval)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = ~(np.isnan(a) | np.isnan(b))
    d = a[ok] - b[ok]
    return {"diff": normal_interval(d), "frac": proportion_interval(int((d >= 0).sum()), int(ok.sum()))}


def masking_verdicts(pgd_acc: Sequence[float], fmn_acc: float, pgd_acc_same_points: float, *,
                     rise_tol: float = 0.01, floor: float = 0.05, gap_tol: float = 0.05) -> dict[str, Any]:
    """The gradient-masking check of one model (thresholds fixed before any run):

    * ``monotone``: PGD accuracy over the increasing ε grid never rises by more than ``rise_tol``;
    * ``vanishes``: PGD accuracy at the largest ε is at most ``floor``;
    * ``fmn_gap``: PGD accuracy at the table's ε minus the accuracy left by FMN's minimal perturbations (points
      with FMN distance above ε) on the same points; ``minimal_agrees`` when it is at most ``gap_tol`` — a
      minimal-norm attack does not find many more adversarial examples inside ε than PGD;
    * ``passed``: all three.
    """
    acc = np.asarray(pgd_acc, float)
    monotone = bool(np.all(np.diff(acc) <= rise_tol))
    vanishes = bool(acc[-1] <= floor)
    gap = float(pgd_acc_same_points - fmn_acc)
    agrees = bool(gap <= gap_tol)
    return {"monotone": monotone, "vanishes": vanishes, "fmn_gap": gap, "minimal_agrees": agrees,
            "passed": monotone and vanishes and agrees}
