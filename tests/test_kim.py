"""Kim et al. Fig 3 claim statistics (rilib.papers.kim2019) on measurements of known answer."""
from __future__ import annotations

import numpy as np
import pytest

from rilib.papers import kim2019


def _meas(tilt, dist, n=50, seed=0, spread=0.0):
    rng = np.random.default_rng(seed)
    return {"tilt": tilt + spread * rng.standard_normal(n), "dist_adv": dist + spread * rng.standard_normal(n)}


def test_statistics_known_medians_and_differences():
    seeds = [0, 1, 2]
    tilts = {"standard": 40.0, "eps025": 30.0, "eps050": 25.0}
    dists = {"standard": 0.9, "eps025": 0.7, "eps050": 0.5}
    meas = {(n, s): _meas(tilts[n] + s, dists[n]) for n in kim2019.MODELS for s in seeds}
    st = kim2019.statistics(meas, seeds, n_boot=200)
    assert st["tilt_standard"].estimate == pytest.approx(41.0)  # median over seeds of 40, 41, 42
    assert st["tilt_drop_weak"].estimate == pytest.approx(10.0) and st["tilt_drop_strong"].estimate == pytest.approx(5.0)
    drop = st["offmanifold_drop"]
    assert (drop.estimate, drop.lo, drop.hi) == pytest.approx((0.4, 0.4, 0.4))
    # resampling seeds: the seed effect (+1° per seed, the same for every model) widens a single model's tilt
    # interval but cancels in the drops, because every model of a replicate gets the same seeds
    assert st["tilt_standard"].lo == pytest.approx(40.0) and st["tilt_standard"].hi == pytest.approx(42.0)
    assert (st["tilt_drop_weak"].lo, st["tilt_drop_weak"].hi) == pytest.approx((10.0, 10.0))


def test_statistics_ignore_points_without_a_crossing_and_are_seeded():
    seeds = [0, 1]
    meas = {(n, s): _meas(30.0, 0.5, spread=1.0, seed=s) for n in kim2019.MODELS for s in seeds}
    meas[("standard", 0)]["tilt"][:10] = np.nan  # segments that did not cross the boundary
    a = kim2019.statistics(meas, seeds, n_boot=100)
    b = kim2019.statistics(meas, seeds, n_boot=100)
    assert a == b and not a["tilt_standard"].isnan
    # no systematic difference between the models: the drops' intervals contain 0
    assert a["tilt_drop_weak"].lo < 0 < a["tilt_drop_weak"].hi
