"""Intervals for verdicts: a statistic with its bootstrap interval, and three-valued comparisons.

A verdict that rests on a handful of models or points carries an interval. :class:`Interval` is what a notebook
records for such a statistic (estimate, lower and upper end, level); the ledger's rule evaluator compares it
three-valued: ``Interval > c`` is True when the whole interval lies above ``c``, False when it lies at or below,
and None ("inconclusive") when it straddles ``c`` (:meth:`Interval.compare`).

:func:`bootstrap` resamples the evaluation points — the same resample for every model, because every model of a
cohort is measured on the same points — and recomputes the statistic: a percentile interval.
"""
from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Interval", "bootstrap", "percentile_interval"]

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Interval:
    """A statistic ``estimate`` with the interval [``lo``, ``hi``] at confidence ``level``."""

    estimate: float
    lo: float
    hi: float
    level: float = 0.95

    def __post_init__(self) -> None:
        if not (math.isnan(self.lo) or math.isnan(self.hi)) and self.lo > self.hi:
            raise ValueError(f"interval lower end {self.lo} above its upper end {self.hi}")

    @property
    def isnan(self) -> bool:
        return any(math.isnan(v) for v in (self.estimate, self.lo, self.hi))

    def compare(self, op: str, c: float) -> bool | None:
        """``self op c`` for the whole interval: True / False when every value in [lo, hi] gives that answer,
        None when the interval straddles ``c``."""
        if op not in _OPS:
            raise ValueError(f"an interval can only be compared with <, <=, >, >=, not {op!r}")
        f = _OPS[op]
        at_lo, at_hi = f(self.lo, c), f(self.hi, c)
        return at_lo if at_lo == at_hi else None

    def __abs__(self) -> "Interval":
        if self.lo >= 0:
            return self
        if self.hi <= 0:
            return Interval(abs(self.estimate), -self.hi, -self.lo, self.level)
        return Interval(abs(self.estimate), 0.0, max(-self.lo, self.hi), self.level)

    def __neg__(self) -> "Interval":
        return Interval(-self.estimate, -self.hi, -self.lo, self.level)

    def to_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "lo": self.lo, "hi": self.hi, "level": self.level}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Interval":
        return cls(float(d["estimate"]), float(d["lo"]), float(d["hi"]), float(d.get("level", 0.95)))

    def __format__(self, spec: str) -> str:
        spec = spec or ".3g"
        return f"{self.estimate:{spec}} [{self.lo:{spec}}, {self.hi:{spec}}]"

    def __str__(self) -> str:
        return format(self, "")


def bootstrap(statistic: Callable[[Sequence[Mapping[str, np.ndarray]]], Any],
              per_model: Sequence[Mapping[str, np.ndarray]], *, n_boot: int = 1000, level: float = 0.95,
              seed: int = 0) -> Any:
    """Percentile bootstrap over evaluation points of a statistic of several models' per-point arrays.

    ``per_model[m][name]`` is a 1-D array over the same N evaluation points for every model ``m`` (as the cohorts
    are measured). Each replicate draws N point indices with replacement, once, and applies them to every array of
    every model (a paired resample), then calls ``statistic``. ``statistic`` returns a number, or a dict of numbers
    (several statistics from the same replicates); the result is an :class:`Interval`, or a dict of them. The
    estimate is the statistic on the data as they are; the interval is the (1 − level)/2 and (1 + level)/2
    quantiles of the replicates (:func:`percentile_interval`). Replicates that give NaN (e.g. a correlation of a
    constant) are dropped; if more than half are NaN the interval is NaN. Seeded: the same call gives the same
    interval.
    """
    est = statistic(per_model)
    single = not isinstance(est, Mapping)
    est = {"_": est} if single else dict(est)
    n = {len(v) for m in per_model for v in m.values()}
    if len(n) != 1:
        raise ValueError(f"every per-point array must have the same length (the same points), got lengths {n}")
    (n_points,) = n
    rng = np.random.default_rng(seed)
    reps = {k: np.empty(n_boot) for k in est}
    for b in range(n_boot):
        idx = rng.integers(0, n_points, n_points)
        r = statistic([{k: v[idx] for k, v in m.items()} for m in per_model])
        r = {"_": r} if single else r
        for k in est:
            reps[k][b] = r[k]
    out = {k: percentile_interval(e, reps[k], level=level) for k, e in est.items()}
    return out["_"] if single else out


def percentile_interval(estimate: float, replicates: Any, *, level: float = 0.95) -> Interval:
    """:class:`Interval` of ``estimate`` from bootstrap ``replicates``: their (1 − level)/2 and (1 + level)/2
    quantiles, taken without interpolation (an infinite replicate, e.g. a median over failed attacks, stays infinite
    instead of turning the interval into NaN). NaN replicates are dropped; if more than half are NaN, or the
    estimate is NaN, the interval is NaN."""
    e = float(estimate)
    reps = np.asarray(replicates, dtype=float)
    ok = reps[~np.isnan(reps)]
    if math.isnan(e) or ok.size == 0 or ok.size < reps.size / 2:
        return Interval(e, math.nan, math.nan, level)
    lo, hi = np.quantile(ok, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return Interval(e, float(lo), float(hi), level)
