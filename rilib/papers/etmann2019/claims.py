"""Etmann et al. (2019): per-model summaries and the statistics the chapter's verdicts read."""
from __future__ import annotations

from typing import Any

import numpy as np

from .cohorts import CohortModel

__all__ = ["summarize", "shown_index", "DEGENERATE_ACC_DROP"]


def shown_index(table) -> int:
    """The model a one-model figure shows (Figs 4, 5): the median-λ model among the non-degenerate ones (the
    paper does not say which model it shows)."""
    ok = [i for i, d in enumerate(table.degenerate) if not d]
    return ok[len(ok) // 2]



#: a model whose test accuracy is more than this below the cohort's best counts as degenerate
DEGENERATE_ACC_DROP = 0.05


def _med(a: np.ndarray) -> float:
    return float(np.median(a))  # +inf entries (failed attacks) count, as in the original code


def summarize(models: list[CohortModel], measurements: list[dict[str, Any]]):
    """One row per model: λ, accuracy, medians of α, α†, every robustness notion, the failure shares and the
    shares of Figures 6–9 (ratios of medians, as the paper's 'portion of the right-hand side')."""
    import pandas as pd

    rows = []
    best = max(cm.entry.test_acc for cm in models)
    for cm, m in zip(models, measurements):
        row = {"lam_paper": cm.lam_paper, "lam_per_example": cm.lam, "test_acc": cm.entry.test_acc,
               "M_alpha": _med(m["alpha"]), "M_alpha_dagger": _med(m["alpha_dagger"]), "M_rho_tilde":
               _med(m["rho_tilde"])}
        for k in ("gradient", "bim", "cw"):
            d = m[f"dist_{k}"]
            row[f"M_{k}"] = _med(d)
            row[f"fail_{k}"] = float(np.mean(~np.isfinite(d)))
        row["share_alpha_dagger_18"] = _med(m["alpha_dagger"]) / _med(m["rhs14"])
        row["share_alpha_19"] = _med(m["alpha"]) / _med(m["rhs15"])
        row["share_xi_20"] = _med(m["xi_alignment"]) / _med(m["rhs16"])
        row["ratio_linear_9"] = _med(np.abs(m["linear_dagger"])) / _med(np.abs(m["psi_dagger"]))
        # Etmann et al. chose their λ range "before the models start to degenerate"; our short training reaches
        # that point inside the grid, so such models are flagged (and left out of the curves' claims, shown grey).
        row["degenerate"] = bool(cm.entry.test_acc < best - DEGENERATE_ACC_DROP)
        rows.append(row)
    return pd.DataFrame(rows)
