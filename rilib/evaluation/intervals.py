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

__all__ = ["Interval", "bootstrap", "bootstrap_independent",
           "percentile_interval", "t_interval", "welch_interval", "normal_interval",
           "ratio_interval", "proportion_interval"]

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
    n = {len(v) for m in per_model for v in m.values()}
    if len(n) != 1:
        raise ValueError(f"every per-point array must have the same length (the same points), got lengths {n}")
    (n_points,) = n

    def draw(rng):
        idx = rng.integers(0, n_points, n_points)
        return [idx] * len(per_model)

    return _replicate(statistic, per_model, est, draw, n_boot=n_boot, level=level, seed=seed)


def _replicate(statistic, samples, est, draw, *, n_boot: int, level: float, seed: int) -> Any:
    """The percentile intervals of :func:`bootstrap` and :func:`bootstrap_independent`: ``draw(rng)`` gives one
    index array per sample for a replicate."""
    single = not isinstance(est, Mapping)
    est = {"_": est} if single else dict(est)
    rng = np.random.default_rng(seed)
    reps = {k: np.empty(n_boot) for k in est}
    for b in range(n_boot):
        r = statistic([{k: v[idx] for k, v in m.items()} for m, idx in zip(samples, draw(rng))])
        r = {"_": r} if single else r
        for k in est:
            reps[k][b] = r[k]
    out = {k: percentile_interval(e, reps[k], level=level) for k, e in est.items()}
    return out["_"] if single else out


def bootstrap_independent(statistic: Callable[[Sequence[Mapping[str, np.ndarray]]], Any],
                          samples: Sequence[Mapping[str, np.ndarray]], *, n_boot: int = 1000, level: float = 0.95,
                          seed: int = 0) -> Any:
    """Percentile bootstrap of a statistic of several *independent* samples (e.g. two models, each measured on its
    own evaluation points): each replicate resamples every sample's points with replacement on its own (within a
    sample, paired across its arrays), then calls ``statistic`` on the list. Otherwise as :func:`bootstrap`."""
    sizes = []
    for m in samples:
        n = {len(v) for v in m.values()}
        if len(n) != 1:
            raise ValueError(f"the arrays of one sample must have the same length (its points), got lengths {n}")
        sizes.append(n.pop())
    return _replicate(statistic, samples, statistic(samples), lambda rng: [rng.integers(0, n, n) for n in sizes],
                      n_boot=n_boot, level=level, seed=seed)


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


def _quantile_t(df: float, level: float) -> float:
    from scipy.stats import t as student_t

    return float(student_t.ppf((1 + level) / 2, df))


def _quantile_normal(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf((1 + level) / 2))


def t_interval(values: Any, *, level: float = 0.95) -> Interval:
    """Mean of a few values (one per seed) ± t·s/√n, s the sample standard deviation and t the Student quantile
    with n − 1 degrees of freedom — the "mean ± 95 % interval over runs" of Noack et al.'s tables. NaN for n < 2."""
    v = np.asarray(values, dtype=float)
    m = float(v.mean()) if v.size else math.nan
    if v.size < 2:
        return Interval(m, math.nan, math.nan, level)
    h = _quantile_t(v.size - 1, level) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return Interval(m, m - h, m + h, level)


def welch_interval(a: Any, b: Any, *, level: float = 0.95) -> Interval:
    """mean(a) − mean(b) with Welch's t interval (unequal variances, Welch–Satterthwaite degrees of freedom): is one
    regime's mean over seeds above another's? Two exactly constant samples give a zero-width interval."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return Interval(d, math.nan, math.nan, level)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(d, d, d, level)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    h = _quantile_t(df, level) * se
    return Interval(d, d - h, d + h, level)


def normal_interval(values: Any, *, level: float = 0.95) -> Interval:
    """Mean ± z·s/√N over many values pooled together (e.g. per-image gradient norms of all seeds: Noack et al.'s
    Table 3 interval), z the normal quantile."""
    v = np.asarray(values, dtype=float)
    m = float(v.mean()) if v.size else math.nan
    if v.size < 2:
        return Interval(m, math.nan, math.nan, level)
    h = _quantile_normal(level) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return Interval(m, m - h, m + h, level)


def ratio_interval(a: Any, b: Any, *, level: float = 0.95) -> Interval:
    """mean(a) / mean(b) for two independent samples of many values, with the delta-method interval:
    se² = (s_a²/n_a)/μ_b² + μ_a²(s_b²/n_b)/μ_b⁴. For a paired ratio pass the same-length arrays anyway: the
    interval then ignores their covariance (wider when they correlate positively)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ma, mb = float(a.mean()), float(b.mean())
    r = ma / mb
    if a.size < 2 or b.size < 2:
        return Interval(r, math.nan, math.nan, level)
    se = math.sqrt(a.var(ddof=1) / a.size / mb ** 2 + ma ** 2 * b.var(ddof=1) / b.size / mb ** 4)
    h = _quantile_normal(level) * se
    return Interval(r, r - h, r + h, level)


def proportion_interval(k: int, n: int, *, level: float = 0.95) -> Interval:
    """k successes of n with the Wilson score interval (stays inside [0, 1], sensible at k = 0 or n)."""
    if n <= 0:
        return Interval(math.nan, math.nan, math.nan, level)
    z = _quantile_normal(level)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if k == 0 else max(0.0, centre - h)  # exactly 0 / 1 at the ends (rounding would leave 1 − 1e-16)
    hi = 1.0 if k == n else min(1.0, centre + h)
    return Interval(p, lo, hi, level)
