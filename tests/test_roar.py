"""ROAR / KAR (Hooker et al. 2019; Kim et al. 2019 Sec 3.2): exact counts and ties of the masks, occlusion, curve
areas and scores in closed form, and an end-to-end case of known answer — a synthetic set whose label lives only in
ten known pixels, scored with the indicator of those pixels against the random baseline — plus the cache."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import rilib.train
from rilib.attribution import attribute
from rilib.evaluation import (
    FRACTIONS,
    channel_mean,
    curve_area,
    full_curve,
    mask_from_ranks,
    n_removed,
    occlude,
    pixel_ranks,
    rank_mask,
    roar_kar_scores,
)
from rilib.retrain import evaluate_roar_kar, retrain_curve


def test_counts_are_rounded_fractions():
    assert [n_removed(f, 784) for f in FRACTIONS] == [78, 235, 392, 549, 706]
    assert n_removed(0.5, 5) == 3 and n_removed(0.1, 5) == 1  # halves rounded up
    assert n_removed(0.0, 64) == 0 and n_removed(1.0, 64) == 64
    with pytest.raises(ValueError):
        n_removed(1.2, 10)


def test_rank_mask_exact_counts_order_and_complements():
    scores = torch.randint(0, 4, (20, 1, 8, 8)).float()  # many ties
    n = 64
    for f in FRACTIONS:
        k = n_removed(f, n)
        roar = rank_mask(scores, f, mode="roar", generator=torch.Generator().manual_seed(1))
        kar = rank_mask(scores, f, mode="kar", generator=torch.Generator().manual_seed(1))
        assert roar.shape == scores.shape and roar.dtype == torch.bool
        assert (roar.flatten(1).sum(1) == k).all() and (kar.flatten(1).sum(1) == k).all()
        s = scores.flatten(1)
        r, kk = roar.flatten(1), kar.flatten(1)
        for i in range(20):  # ROAR removes the highest scores, KAR the lowest
            assert s[i][r[i]].min() >= s[i][~r[i]].max()
            assert s[i][kk[i]].max() <= s[i][~kk[i]].min()
        # the same noise: ROAR at f and KAR at 1 - f are complements (round(f n) + round((1 - f) n) = n here)
        kar_c = rank_mask(scores, 1 - f, mode="kar", generator=torch.Generator().manual_seed(1))
        assert torch.equal(roar, ~kar_c)
    # ties are broken by the generator's noise: reproducible, and another seed breaks them otherwise
    flat = torch.zeros(3, 1, 8, 8)
    a = rank_mask(flat, 0.5, mode="roar", generator=torch.Generator().manual_seed(0))
    b = rank_mask(flat, 0.5, mode="roar", generator=torch.Generator().manual_seed(0))
    c = rank_mask(flat, 0.5, mode="roar", generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, c) and (a.flatten(1).sum(1) == 32).all()


def test_noise_only_breaks_ties():
    # float32 scores one ulp apart near 1 keep their order: the noise (< 1e-8) is added in float64
    base = torch.ones(1, 16, dtype=torch.float32)
    scores = base + torch.arange(16, dtype=torch.float32) * torch.finfo(torch.float32).eps
    ranks = pixel_ranks(scores, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ranks[0], torch.arange(15, -1, -1))
    assert torch.equal(mask_from_ranks(ranks, 0.25, mode="roar")[0], torch.arange(16) >= 12)
    with pytest.raises(ValueError, match="NaN"):
        pixel_ranks(torch.tensor([[0.0, float("nan")]]))


def test_occlude_fills_removed_pixels_per_channel_and_keeps_the_rest():
    x = torch.rand(4, 3, 6, 6)
    scores = torch.rand(4, 1, 6, 6)
    fill = [0.1, 0.2, 0.3]
    for mode in ("roar", "kar"):
        g = torch.Generator().manual_seed(2)
        out = occlude(x, scores, 0.3, mode=mode, fill=fill, generator=g)
        mask = rank_mask(scores, 0.3, mode=mode, generator=torch.Generator().manual_seed(2)).expand_as(x)
        for c in range(3):
            assert (out[:, c][mask[:, c]] == fill[c]).all()
        assert torch.equal(out[~mask], x[~mask])
        # maps without the channel axis give the same occlusion
        g = torch.Generator().manual_seed(2)
        assert torch.equal(occlude(x, scores[:, 0], 0.3, mode=mode, fill=fill, generator=g), out)
    with pytest.raises(ValueError, match="one value per channel"):
        occlude(x, scores, 0.3, mode="roar", fill=[0.1, 0.2])
    with pytest.raises(ValueError, match="roar"):
        occlude(x, scores, 0.3, mode="both", fill=0.0)
    assert channel_mean(torch.stack([torch.zeros(2, 3, 3), torch.ones(2, 3, 3)], 1)) == [0.0, 1.0]


def test_curve_areas_in_closed_form():
    xs = np.array([0, .1, .3, .5, .7, .9, 1])
    assert curve_area(xs, np.full(7, 0.8)) == pytest.approx(0.8)
    assert curve_area(xs, 1 - xs) == pytest.approx(0.5)
    assert curve_area(xs, 0.2 + 0.6 * xs) == pytest.approx(0.5)
    assert curve_area([0, 1, 3], [0, 2, 2]) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="increase"):
        curve_area([0, .5, .4], [1, 1, 1])
    x, y = full_curve([[0.6, 0.5, 0.4, 0.3, 0.2], [0.8, 0.7, 0.6, 0.5, 0.4]], start=0.9, end=0.1)
    np.testing.assert_allclose(x, xs)
    np.testing.assert_allclose(y, [0.9, 0.7, 0.6, 0.5, 0.4, 0.3, 0.1])


def test_scores_against_the_random_baseline():
    rand = {"roar": np.array([0.8, 0.7, 0.6, 0.5, 0.4]), "kar": np.array([0.85, 0.75, 0.6, 0.45, 0.3])}
    better = {"roar": rand["roar"] - 0.1, "kar": np.stack([rand["kar"] + 0.05, rand["kar"] + 0.15])}  # 2 repeats
    s = roar_kar_scores({"same": rand, "better": better}, rand, start=0.9)
    assert s["same"] == {"roar": 0.0, "kar": 0.0}
    # interior trapezoid weights over [0, .1, .3, .5, .7, .9, 1] sum to 0.9: a uniform shift by 0.1 scores 0.09
    assert s["better"]["roar"] == pytest.approx(0.09) and s["better"]["kar"] == pytest.approx(0.09)
    # the fixed endpoints cancel
    assert roar_kar_scores({"b": better}, rand, start=0.5, end=0.0)["b"] == pytest.approx(s["better"])


# ----------------------------------------------------------------------------------------------------------------
# end to end
# ----------------------------------------------------------------------------------------------------------------
INFORMATIVE = 10  # the first ten pixels (row-major) of an 8×8 image carry the label; the rest is noise


def _pixel_code_data(n_train=1000, n_test=500, seed=0):
    """Class k lights pixel k of the ten informative pixels (1, the other nine 0); the other 54 pixels are uniform
    noise, independent of the label. The indicator of the informative pixels is the perfect attribution."""
    g = torch.Generator().manual_seed(seed)

    def make(n):
        y = torch.arange(n) % 10
        x = torch.rand(n, 64, generator=g)
        x[:, :INFORMATIVE] = 0.0
        x[torch.arange(n), y] = 1.0
        return x.reshape(n, 1, 8, 8), y

    (xtr, ytr), (xte, yte) = make(n_train), make(n_test)
    ind = torch.zeros(1, 1, 8, 8)
    ind.view(-1)[:INFORMATIVE] = 1.0
    return xtr, ytr, xte, yte, ind.expand(n_train, -1, -1, -1), ind.expand(n_test, -1, -1, -1)


TRAIN = dict(arch="toy_mlp", arch_kwargs={"in_features": 64, "hidden": 64, "num_classes": 10}, epochs=4,
             batch_size=100, optimizer={"name": "adam", "lr": 1e-2})


@pytest.fixture
def one_thread():
    """Train the tiny MLPs with one torch thread, as the workers do (several threads only add overhead here)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_end_to_end_indicator_beats_random(cache_root, monkeypatch, one_thread):
    monkeypatch.setenv("RILIB_WORKERS", "1")
    xtr, ytr, xte, yte, ind_tr, ind_te = _pixel_code_data()
    g = torch.Generator().manual_seed(0)
    rand_tr = attribute(None, xtr, method="random", generator=g)
    rand_te = attribute(None, xte, method="random", generator=g)
    res = evaluate_roar_kar(xtr, ytr, xte, yte, {"indicator": (ind_tr, ind_te), "random": (rand_tr, rand_te)},
                            seeds=(0,), progress=False, **TRAIN)
    ind, rnd = res["indicator"], res["random"]
    assert ind["roar"].shape == (1, 5) and ind["kar"].shape == (1, 5)
    # ROAR: from 0.3 on (19 of 64 pixels) every informative pixel is gone -> chance
    assert (ind["roar"][0, 1:] < 0.2).all(), ind["roar"]
    # KAR: up to 0.7 (45 removed, 19 kept) every informative pixel is kept -> perfect
    assert (ind["kar"][0, :4] > 0.95).all(), ind["kar"]
    # the random ranking sits in between: it keeps the lit pixel with probability ≈ 1 - f
    assert rnd["roar"][0, 0] > 0.85 and 0.4 < rnd["roar"][0, 2] < 0.8 and 0.4 < rnd["kar"][0, 2] < 0.8
    start = float(rilib.train.evaluate(_fit_plain(xtr, ytr), xte, yte))
    assert start > 0.95
    s = roar_kar_scores({"indicator": ind}, rnd, start=start, end=0.1)["indicator"]
    assert s["roar"] > 0.25 and s["kar"] > 0.25, s


def _fit_plain(x, y):
    from rilib import models

    torch.manual_seed(0)
    m = models.build(TRAIN["arch"], **TRAIN["arch_kwargs"])
    rilib.train.fit(m, x, y, rilib.train.CrossEntropy(), epochs=TRAIN["epochs"], batch_size=TRAIN["batch_size"],
                    optimizer=TRAIN["optimizer"], progress=False)
    return m


def test_retrainings_run_in_workers_and_are_cached(cache_root, monkeypatch, one_thread):
    xtr, ytr, xte, yte, ind_tr, ind_te = _pixel_code_data(n_train=500, n_test=200, seed=1)
    kw = dict(TRAIN, epochs=3, seeds=(0,), fractions=(0.5,), progress=False)
    monkeypatch.setenv("RILIB_WORKERS", "2")
    first = retrain_curve(xtr, ytr, xte, yte, ind_tr, ind_te, **kw)
    assert set(first) == {"roar", "kar"} and first["roar"].shape == (1, 1)
    assert len(list((cache_root / "results").glob("roar-*.npz"))) == 2
    assert not [p for p in cache_root.iterdir() if p.name.startswith(".tmp-")]  # the staged data are removed

    def boom(*a, **k):
        raise AssertionError("retrained although the result is cached")

    monkeypatch.setattr(rilib.train, "fit", boom)
    monkeypatch.setenv("RILIB_WORKERS", "1")
    again = retrain_curve(xtr, ytr, xte, yte, ind_tr[:, 0], ind_te[:, 0], **kw)  # (N, H, W) maps: the same entries
    for mode in first:
        np.testing.assert_array_equal(first[mode], again[mode])
    # any change of a setting, the maps or the data is a new entry
    for change in (dict(kw, epochs=4), dict(kw, tie_seed=1)):
        with pytest.raises(RuntimeError, match="retrained although"):
            retrain_curve(xtr, ytr, xte, yte, ind_tr, ind_te, **change)
    with pytest.raises(RuntimeError, match="retrained although"):
        retrain_curve(xtr, ytr, xte, yte, ind_tr * 2, ind_te, **kw)
