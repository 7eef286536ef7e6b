"""Noack et al. (2021): SmoothGrad targets, thresholding, the IR and Jacobian losses, the chapter's statistics —
on cases of known answer."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

from rilib import attribution, cache, profiles, train, zoo
from rilib.evaluation import (Interval, normal_interval, proportion_interval, ratio_interval, t_interval,
                              welch_interval)
from rilib.papers.noack2021 import build, claims, cohort, targets


class Linear(nn.Module):
    def __init__(self, d=6, c=3, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(c, d, generator=g, dtype=torch.float64))
        self.b = nn.Parameter(torch.randn(c, generator=g, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.w.T + self.b


class Quadratic(nn.Module):
    """z_c(x) = ½ Σ_i a_ci x_i²: ∇ z_c = a_c ⊙ x."""

    def __init__(self, a):
        super().__init__()
        self.a = nn.Parameter(a)

    def forward(self, x):
        return 0.5 * (x.flatten(1)[:, None, :] ** 2 * self.a[None]).sum(-1)


# ------------------------------------------------------------------------------------------ thresholding, permuting
def test_threshold_keeps_values_at_or_above_mean_plus_phi_std():
    m = torch.tensor([[0.0, 1.0, 2.0, 3.0], [5.0, 5.0, 5.0, 5.0]])
    # map 1: mean 1.5, population std √1.25 = 1.118 → cut 2.618 keeps only 3; a constant map keeps everything (≥ cut)
    assert torch.equal(targets.threshold(m, 1.0), torch.tensor([[0.0, 0.0, 0.0, 3.0], [5.0, 5.0, 5.0, 5.0]]))
    # φ = 0: cut at the mean 1.5
    assert torch.equal(targets.threshold(m[:1], 0.0), torch.tensor([[0.0, 0.0, 2.0, 3.0]]))
    img = torch.arange(8.0).view(2, 1, 2, 2)
    assert targets.threshold(img, 1.0).shape == img.shape


def test_permute_within_keeps_each_maps_values_and_is_seeded():
    m = torch.arange(50.0).view(2, 1, 5, 5)
    p = targets.permute_within(m, 0)
    for i in range(2):
        assert torch.equal(p[i].flatten().sort().values, m[i].flatten().sort().values)
    assert not torch.equal(p, m)
    assert torch.equal(p, targets.permute_within(m, 0))
    assert not torch.equal(p, targets.permute_within(m, 1))


# ------------------------------------------------------------------------------------------------------ SmoothGrad
def test_smoothgrad_of_a_linear_model_is_the_absolute_weight_row():
    net = Linear()
    x = torch.rand(4, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])
    sg = attribution.attribute(net, x, method="smoothgrad", target=y, abs=False, n=7, sigma=0.3)
    assert torch.allclose(sg, net.w.detach()[y].abs(), atol=1e-12)
    signed = attribution.attribute(net, x, method="smoothgrad", target=y, abs=False, n=7, abs_each=False)
    assert torch.allclose(signed, net.w.detach()[y], atol=1e-12)
    sal = attribution.attribute(net, x, method="saliency", target=y, abs=False)
    assert torch.allclose(sal, net.w.detach()[y], atol=1e-12)


def test_smoothgrad_of_a_quadratic_model_is_the_folded_normal_mean():
    # ∇ z_c(x + η) = a_c ⊙ (x + η): E|a (x + η)| = |a| (σ√(2/π) e^{−μ²/2σ²} + μ (1 − 2Φ(−μ/σ))), μ = x
    a = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    net = Quadratic(a)
    x = torch.tensor([[0.1, 0.4, -0.2]], dtype=torch.float64)
    s, n = 0.3, 20000
    sg = attribution.attribute(net, x, method="smoothgrad", target=0, abs=False, n=n, sigma=s)
    mu = x[0]
    phi = 0.5 * (1 + torch.erf(-mu / s / math.sqrt(2)))
    expect = a[0].abs() * (s * math.sqrt(2 / math.pi) * torch.exp(-mu ** 2 / (2 * s * s)) + mu * (1 - 2 * phi))
    sd = a[0].abs() * s  # the spread of one |a (x + η)| is at most |a| σ
    assert torch.all((sg[0] - expect).abs() < 4 * sd / math.sqrt(n))


def test_smoothgrad_matches_captum_noise_tunnel():
    from captum.attr import NoiseTunnel, Saliency

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    x = torch.rand(2, 5, dtype=torch.float64)
    y = torch.tensor([2, 0])
    n, s = 4000, 0.15
    ours = attribution.attribute(net, x, method="smoothgrad", target=y, abs=False, n=n, sigma=s)
    torch.manual_seed(1)
    theirs = NoiseTunnel(Saliency(net)).attribute(x, nt_type="smoothgrad", nt_samples=n, stdevs=s, target=y,
                                                  abs=True, nt_samples_batch_size=500)
    # two Monte Carlo estimates of the same expectation: agree to a few standard errors
    assert torch.allclose(ours, theirs, rtol=0.03, atol=1e-3)


def test_smoothgrad_batched_equals_one_at_a_time_and_is_seeded():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)).eval()
    x = torch.rand(5, 1, 6, 6)
    y = torch.tensor([0, 1, 2, 0, 1])
    full = attribution.attribute(net, x, method="smoothgrad", target=y, abs=False, n=5, batch_size=2)
    one = torch.cat([attribution.attribute(net, x[i:i + 1], method="smoothgrad", target=y[i:i + 1], abs=False, n=5)
                     for i in range(5)])
    assert torch.allclose(full, one, atol=1e-6)
    again = attribution.attribute(net, x, method="smoothgrad", target=y, abs=False, n=5, batch_size=2)
    assert torch.equal(full, again)
    other = attribution.attribute(net, x, method="smoothgrad", target=y, abs=False, n=5, seed=1)
    assert not torch.allclose(full, other)


# --------------------------------------------------------------------------------------------------------- losses
def test_interpretation_regulariser_on_a_linear_model_by_hand():
    net = Linear()
    x = torch.rand(3, 6, dtype=torch.float64)
    y = torch.tensor([2, 0, 1])
    t = torch.rand(3, 6, dtype=torch.float64)
    lam = 0.07
    loss, logits = train.InterpretationReg(lam)(net, x, y, t)
    w = net.w.detach()
    hand = F.cross_entropy(x @ w.T + net.b.detach(), y) + lam * (w[y].abs() - t).norm(dim=1).mean()
    assert torch.allclose(loss, hand)
    signed, _ = train.InterpretationReg(lam, absolute=False)(net, x, y, t)
    assert torch.allclose(signed, F.cross_entropy(logits, y) + lam * (w[y] - t).norm(dim=1).mean())
    loss.backward()  # differentiable in the weights (double backprop)
    assert net.w.grad is not None


def test_jacobian_projection_estimator_is_unbiased_for_the_squared_frobenius_norm():
    net = Linear(d=8, c=4)
    x = torch.rand(2, 8, dtype=torch.float64)
    y = torch.tensor([0, 1])
    exact, logits = train.JacobianReg(1.0, squared=True)(net, x, y)
    exact, ce = exact.detach(), F.cross_entropy(logits, y).detach()
    frob2 = net.w.detach().pow(2).sum()
    assert torch.allclose(exact - ce, frob2)
    torch.manual_seed(0)
    draws = torch.stack([(train.JacobianReg(1.0, squared=True, projections=1)(net, x, y)[0] - ce).detach()
                         for _ in range(4000)])
    assert abs(float(draws.mean() - frob2)) < 4 * float(draws.std()) / math.sqrt(len(draws))
    many = train.JacobianReg(1.0, squared=True, projections=2000)(net, x, y)[0].detach() - ce
    assert float((many - frob2).abs() / frob2) < 0.1
    with pytest.raises(ValueError, match="projections"):
        train.JacobianReg(1.0, projections=0)(net, x, y)


# ------------------------------------------------------------------------------------------------------ intervals
def test_seed_intervals_by_hand():
    from scipy.stats import t as student_t

    v = [0.80, 0.82, 0.84]
    iv = t_interval(v)
    h = student_t.ppf(0.975, 2) * 0.02 / math.sqrt(3)
    assert iv.estimate == pytest.approx(0.82) and iv.hi - iv.estimate == pytest.approx(h)
    d = welch_interval([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert d.estimate == 0 and d.lo < 0 < d.hi
    # equal variances and sizes: Welch's df = 2(n − 1) = 4, se = √(2 s²/n)
    d = welch_interval([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert d.estimate == pytest.approx(1.0)
    assert d.hi - 1.0 == pytest.approx(student_t.ppf(0.975, 4) * math.sqrt(2 / 3))
    assert welch_interval([1.0, 1.0], [0.0, 0.0]) == Interval(1.0, 1.0, 1.0)
    assert math.isnan(t_interval([1.0]).lo)


def test_pooled_ratio_and_proportion_intervals():
    rng = np.random.default_rng(0)
    a = rng.normal(2.0, 0.5, 20000)
    b = rng.normal(1.0, 0.5, 20000)
    assert normal_interval(a).lo < 2.0 < normal_interval(a).hi
    r = ratio_interval(a, b)
    assert r.lo < 2.0 < r.hi and r.hi - r.lo < 0.05
    p = proportion_interval(0, 10)
    assert p.lo == 0 and p.hi == pytest.approx(0.2775, abs=1e-3)  # Wilson, z = 1.96
    assert proportion_interval(10, 10).hi == 1.0


# ---------------------------------------------------------------------------------------------- claim statistics
def test_order_statistics_read_a_clear_order_and_an_overlap():
    acc = {"std": {"clean": [0.99, 0.99, 0.99], "adv": [0.60, 0.61, 0.62]},
           "adv": {"clean": [0.98, 0.985, 0.98], "adv": [0.90, 0.91, 0.90]},
           "ir-r": {"clean": [0.98, 0.98, 0.98], "adv": [0.60, 0.63, 0.59]}}
    s = claims.order_statistics(acc, "m", [("adv", "std"), ("ir-r", "std")])
    assert s["m_adv_gap_adv_std"].lo > 0.25
    assert s["m_adv_gap_irr_std"].lo < 0 < s["m_adv_gap_irr_std"].hi  # overlapping: inconclusive
    assert s["m_adv_best_margin_adv"].lo > 0 and s["m_adv_best_margin_std"].hi < 0.05
    assert s["m_clean_cost_adv"].estimate == pytest.approx(0.99 - 0.9817, abs=1e-3)
    assert "m_clean_cost_std" not in s


def test_gradient_statistics_margins_and_ratios():
    rng = np.random.default_rng(0)
    norms = {"std": {"correct": rng.normal(7.0, 0.1, 500), "others": rng.normal(4.0, 0.1, 500)},
             "adv": {"correct": rng.normal(2.5, 0.1, 500), "others": rng.normal(1.5, 0.1, 500)},
             "ir-r-perm": {"correct": rng.normal(0.9, 0.1, 500), "others": rng.normal(1.7, 0.1, 500)}}
    s = claims.gradient_statistics(norms)
    assert s["grad_c_max_margin_std"].lo > 4.0  # std minus the largest other (adv)
    assert s["grad_c_min_margin_irrperm"].estimate == pytest.approx(1.6, abs=0.05)  # adv − perm
    assert s["grad_ratio_irrperm"].hi < 1 < s["grad_ratio_std"].lo
    assert s["grad_c_rel_adv"].estimate == pytest.approx(2.5 / 7.0, abs=0.01)
    assert s["grad_c_gap_std_adv"].estimate == pytest.approx(4.5, abs=0.05)


def test_foreground_share_and_paired_statistics():
    img = np.zeros((2, 1, 2, 2))
    img[:, 0, 0, 0] = 1.0  # one stroke pixel
    maps = np.array([[[[3.0, 1.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    share = claims.foreground_share(maps, img)
    assert share[0] == pytest.approx(0.75) and math.isnan(share[1])
    s = claims.share_statistics(np.array([0.8, 0.7, 0.9, np.nan]), np.array([0.5, 0.75, 0.6, 0.1]))
    assert s["frac"].estimate == pytest.approx(2 / 3)
    assert s["diff"].estimate == pytest.approx((0.3 - 0.05 + 0.3) / 3)


def test_pgd_skips_misclassified_points_and_matches_attacking_all_and_one_at_a_time():
    from rilib import attacks
    from rilib.papers.noack2021 import jobs

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    x = torch.rand(40, 1, 4, 4)
    y = torch.randint(0, 3, (40,))
    clean = model(x).argmax(1) == y
    assert 0 < int(clean.sum()) < 40  # some points misclassified: they are skipped
    got = jobs._pgd(model, x, y, 0.3, "ci", "cpu")
    P = profiles.get("ci").noack
    every = attacks.attack(model, x, y, method="pgd", bounds=(0.0, 1.0), epsilons=0.3, steps=P.attack_steps,
                           abs_stepsize=P.attack_step, random_start=True, seed=0)
    assert np.array_equal(got, (clean & ~every.success).numpy())
    one = np.concatenate([jobs._pgd(model, x[i:i + 1], y[i:i + 1], 0.3, "ci", "cpu") for i in range(40)])
    assert np.array_equal(got, one)
    assert 0 < got.sum() < clean.sum()  # the case is not trivial: some points survive, some are fooled


def test_masking_verdicts():
    ok = claims.masking_verdicts([0.9, 0.6, 0.3, 0.02], fmn_acc=0.28, pgd_acc_same_points=0.30)
    assert ok["passed"] and ok["fmn_gap"] == pytest.approx(0.02)
    assert not claims.masking_verdicts([0.9, 0.6, 0.65, 0.02], 0.6, 0.6)["monotone"]
    assert not claims.masking_verdicts([0.9, 0.6, 0.3, 0.2], 0.3, 0.3)["vanishes"]
    gap = claims.masking_verdicts([0.9, 0.6, 0.3, 0.0], fmn_acc=0.1, pgd_acc_same_points=0.3)
    assert not gap["minimal_agrees"] and not gap["passed"]


# ------------------------------------------------------------------------------------- calibration by bisection
def _search(grid, loss, reference):
    """Run :func:`build.bisect_nearest` to the end, "training" (reading ``loss``) what it asks for."""
    losses, trained = {}, []
    while True:
        chosen, need, read = build.bisect_nearest(grid, losses, reference)
        if chosen is not None:
            assert not need and set(read) <= set(losses)
            return chosen, trained, read
        assert need, "the search waits although the reference is known"
        for k in need:
            losses[k] = loss(k)
            trained.append(k)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8])
def test_bisection_chooses_the_full_grids_nearest_value_on_a_monotone_loss(n):
    rng = np.random.default_rng(n)
    for _ in range(200):
        grid = sorted(rng.choice([0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], n, replace=False))
        vals = np.sort(rng.uniform(0, 2, n))  # a loss non-decreasing in λ
        loss = dict(zip(grid, vals)).__getitem__
        ref = float(rng.uniform(-0.5, 2.5))
        chosen, trained, read = _search(grid, loss, ref)
        assert chosen == build.nearest(dict(zip(grid, vals)), ref)
        assert len(trained) == len(set(trained)) <= (math.ceil(math.log2(n)) + 1 if n > 1 else 1)
        assert read == sorted(trained)


def test_bisection_of_three_trains_the_middle_then_the_side_of_the_reference():
    grid, loss = [0.01, 0.03, 0.1], {0.01: 0.20, 0.03: 0.30, 0.1: 0.50}.__getitem__
    assert build.bisect_nearest(grid, {}, None) == (None, [0.03], [])  # before the reference: the middle only
    assert build.bisect_nearest(grid, {0.03: 0.30}, None) == (None, [], [0.03])  # then wait for the reference
    assert _search(grid, loss, 0.26)[:2] == (0.03, [0.03, 0.01])  # 0.26 < 0.30: the smaller side; 0.03 nearer
    assert _search(grid, loss, 0.23)[:2] == (0.01, [0.03, 0.01])
    assert _search(grid, loss, 0.45)[:2] == (0.1, [0.03, 0.1])
    assert _search(grid, loss, 0.30)[:2] == (0.03, [0.03, 0.01])  # on the middle: it is chosen
    # a cached value off the search's path is neither read nor allowed to change the choice
    assert build.bisect_nearest(grid, {0.01: 0.26, 0.03: 0.30, 0.1: 0.50}, 0.45) == (0.1, [], [0.03, 0.1])
    # the table lists every grid value, the untrained one as such
    rows = build._rows({0.03: 0.30, 0.1: 0.50}, 0.45, "λ_J", 0.1, grid=grid)
    assert [r["trained for the search"] for r in rows] == [False, True, True] and math.isnan(rows[0]["final training loss"])
    assert [r["chosen"] for r in rows] == [False, False, True]
    assert rows[2]["|Δ| to the reference"] == pytest.approx(0.05)


# --------------------------------------------------------------------------------------------- zoo extras, specs
def test_specs_without_extras_have_no_extras_field_in_their_key():
    s = cohort.spec(cohort.NoackModel("mnist", "std"), "ci")
    assert "extras" not in s.canonical()
    assert s.cache_key().fields["code"] == cache.code_digest(zoo.train_code(s))


def test_ir_spec_needs_its_targets_and_keys_on_them(tmp_path, monkeypatch):
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path))
    m = cohort.NoackModel("mnist", "ir-r", 0, lam=0.07)
    with pytest.raises(ValueError, match="targets"):
        cohort.spec(m, "ci")
    a = cohort.spec(m, "ci", extras={"name": "t", "digest": "a" * 20, "arrays": ["targets"]})
    b = cohort.spec(m, "ci", extras={"name": "t", "digest": "b" * 20, "arrays": ["targets"]})
    assert a.key != b.key
    with pytest.raises(FileNotFoundError, match="t-aaaa"):
        zoo.get(a, device="cpu", progress=False)


def test_ir_model_trains_on_cached_targets(tmp_path, monkeypatch):
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path))
    spec0 = cohort.spec(cohort.NoackModel("mnist", "std"), "ci")
    ds = zoo.load_data(spec0)
    key = cache.key("test-targets", spec={"k": 1}, inputs=[ds.x_train])
    zoo.cached_arrays("t", key, lambda: {"targets": np.zeros(tuple(ds.x_train.shape), np.float32)})
    extras = {"name": "t", "digest": key.digest, "arrays": ["targets"]}
    e = zoo.get(cohort.spec(cohort.NoackModel("mnist", "ir-r", 0, lam=0.07), "ci", extras=extras), device="cpu",
                progress=False)
    assert not e.loaded and e.meta["spec"]["extras"]["digest"] == key.digest
    bad = cache.key("test-targets", spec={"k": 2}, inputs=[ds.x_train])
    zoo.cached_arrays("t", bad, lambda: {"targets": np.zeros((3, 1, 28, 28), np.float32)})
    with pytest.raises(ValueError, match="rows"):
        zoo.get(cohort.spec(cohort.NoackModel("mnist", "ir-r", 0, lam=0.07), "ci",
                            extras={"name": "t", "digest": bad.digest, "arrays": ["targets"]}), device="cpu",
                progress=False)
