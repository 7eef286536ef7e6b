"""Statistics verdicts read, on inputs of known answer; bootstrap intervals."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from rilib.evaluation import Interval, bootstrap, fraction_greater, median, min_pairwise_spearman, pearson, \
    quadratic_coefficient, spearman


def test_median_counts_infinities():
    assert median(np.array([1.0, np.inf, np.inf])) == math.inf
    assert median(np.array([1.0, 2.0, np.inf])) == 2.0


def test_correlations_match_scipy_and_drop_non_finite_pairs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    b[:10] += a[:10] * 3
    assert pearson(a, b) == pytest.approx(sps.pearsonr(a, b).statistic, abs=1e-12)
    ties = np.round(a, 1)
    assert spearman(ties, b) == pytest.approx(sps.spearmanr(ties, b).statistic, abs=1e-12)
    a2 = np.r_[a, np.inf, 1.0]
    b2 = np.r_[b, 0.0, np.nan]
    assert pearson(a2, b2) == pytest.approx(pearson(a, b), abs=1e-12)
    assert spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 2], [1, 2])) and math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_quadratic_coefficient_known_curves():
    x = np.linspace(2.0, 5.0, 7)
    u = (x - 2) / 3
    assert quadratic_coefficient(x, 1 + 0.5 * u + 2 * u ** 2) == pytest.approx(2.0)
    assert quadratic_coefficient(x, np.sqrt(u)) < 0  # saturating
    assert quadratic_coefficient(x, u ** 3) > 0  # superlinear
    assert quadratic_coefficient(x, 3 * x - 1) == pytest.approx(0.0, abs=1e-12)  # a line has no curvature
    # defined whatever the signs of the half-slopes (the old half-slope ratio was not): a falling convex curve
    assert quadratic_coefficient(x, (u - 0.7) ** 2) > 0
    # invariant to a shift and scale of x, and to the order of the points
    perm = np.random.default_rng(1).permutation(7)
    assert quadratic_coefficient(10 * x[perm] + 4, (u ** 3)[perm]) == pytest.approx(quadratic_coefficient(x, u ** 3))
    assert math.isnan(quadratic_coefficient([1, 2], [1, 2])) and math.isnan(quadratic_coefficient([1, 1, 1], [1, 2, 3]))


def test_fraction_greater_and_pairwise_minimum():
    assert fraction_greater([1, 2, 3, 4], [0, 5, 0, 5]) == 0.5
    assert fraction_greater([1, np.nan], [0, 0]) == 1.0
    cols = [np.arange(5.0), np.arange(5.0) ** 2, np.array([0, 1, 2, 4, 3.0])]
    assert min_pairwise_spearman(cols) == pytest.approx(0.9)
    assert math.isnan(min_pairwise_spearman([np.arange(5.0), np.ones(5)]))


def test_bootstrap_interval_covers_known_median_and_is_seeded():
    rng = np.random.default_rng(0)
    data = [{"v": rng.normal(3.0, 1.0, 400)}]
    iv = bootstrap(lambda pm: median(pm[0]["v"]), data, n_boot=400)
    assert iv.lo < 3.0 < iv.hi and iv.hi - iv.lo < 0.5 and iv.estimate == median(data[0]["v"])
    assert bootstrap(lambda pm: median(pm[0]["v"]), data, n_boot=400) == iv
    # a constant statistic has a zero-width interval; dict statistics get one interval each
    both = bootstrap(lambda pm: {"c": 1.0, "m": float(np.mean(pm[0]["v"]))}, data, n_boot=100)
    assert both["c"] == Interval(1.0, 1.0, 1.0) and both["m"].lo < 3.0 < both["m"].hi


def test_bootstrap_resamples_models_paired():
    """The same points are drawn for every model: a statistic of the difference of two identical models is 0."""
    v = np.random.default_rng(0).normal(size=100)
    iv = bootstrap(lambda pm: median(pm[0]["v"]) - median(pm[1]["v"]), [{"v": v}, {"v": v.copy()}], n_boot=200)
    assert iv == Interval(0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same length"):
        bootstrap(lambda pm: 0.0, [{"v": v}, {"v": v[:50]}])


def test_bootstrap_nan_statistic_gives_nan_interval():
    iv = bootstrap(lambda pm: spearman(pm[0]["v"], pm[0]["v"]), [{"v": np.ones(20)}], n_boot=50)
    assert iv.isnan


def test_interval_semantics():
    iv = Interval(1.0, 0.5, 2.0)
    assert iv.compare(">", 0.4) is True and iv.compare(">", 0.5) is None and iv.compare("<=", 0.4) is False
    assert abs(Interval(-1.0, -2.0, -0.5)) == Interval(1.0, 0.5, 2.0)
    assert format(iv, ".1f") == "1.0 [0.5, 2.0]"
    with pytest.raises(ValueError):
        Interval(0.0, 1.0, 0.5)
