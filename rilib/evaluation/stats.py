"""Statistics that verdicts read, defined for any input and tested on cases of known answer.

Conventions: per-point arrays may hold +inf (a failed attack counts as infinitely robust in medians, as in Etmann
et al.'s code); correlations use the points where both values are finite; a statistic that is undefined (fewer
than three points, a constant input) is NaN — and a NaN never passes a rule (:mod:`rilib.results`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["median", "spearman", "pearson", "quadratic_coefficient", "fraction_greater", "min_pairwise_spearman"]


def median(a: np.ndarray) -> float:
    """Median with +inf entries counted (not dropped)."""
    a = np.asarray(a, dtype=float)
    return float(np.median(a)) if a.size else math.nan


def _finite_pairs(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


def pearson(a, b) -> float:
    """Pearson correlation over the pairs where both are finite; NaN with < 3 pairs or a constant input."""
    a, b = _finite_pairs(a, b)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / math.sqrt((a @ a) * (b @ b)))


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 0..n−1 with ties given their average rank."""
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(a.size)
    ranks[order] = np.arange(a.size, dtype=float)
    _, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return (sums / counts)[inv]


def spearman(a, b) -> float:
    """Spearman rank correlation (Pearson of average ranks) over the finite pairs; NaN as :func:`pearson`."""
    a, b = _finite_pairs(a, b)
    if a.size < 3:
        return math.nan
    return pearson(_ranks(a), _ranks(b))


def quadratic_coefficient(x, y) -> float:
    """Curvature of a curve y(x) given by points: the coefficient c of the least-squares fit y ≈ a + b·u + c·u²
    with u = (x − min x)/(max x − min x) ∈ [0, 1].

    Defined for any curve of ≥ 3 points with distinct x (NaN otherwise): c < 0 is a concave (saturating) curve,
    c > 0 a convex (superlinear) one, whatever the signs of the slopes; it is in the units of y.
    """
    x, y = _finite_pairs(x, y)
    if x.size < 3 or np.ptp(x) == 0:
        return math.nan
    u = (x - x.min()) / np.ptp(x)
    A = np.stack([np.ones_like(u), u, u * u], 1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(coef[2])


def fraction_greater(a, b) -> float:
    """Share of positions where ``a > b`` (positions where either is NaN are dropped)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    return float(np.mean(a[ok] > b[ok])) if ok.any() else math.nan


def min_pairwise_spearman(columns: Sequence[np.ndarray]) -> float:
    """Smallest Spearman correlation over every pair of the given columns (NaN if any pair is undefined)."""
    vals = [spearman(columns[i], columns[j]) for i in range(len(columns)) for j in range(i + 1, len(columns))]
    return math.nan if not vals or any(math.isnan(v) for v in vals) else min(vals)
