"""Wang et al. (2022), part 1: the chapter's own statistics and kernels on cases of known answer — the Er
activation (closed form, its derivative, the ReLU limit, Monte Carlo), App. C's path attributions on min(x, y), the
symmetric network, Table 1/4/5 statistics on hand-made inputs, Fig 11 on a linear model (SmoothGrad of a linear
logit is its weight row everywhere, so ‖SG(x) − SG(x′)‖ = 0) batched == one at a time, and Fig 15 on a linear model
whose last tensor (a zero bias) randomises to itself."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from rilib.papers.wang2022 import axioms, claims, sanity, smoothing


# --- Er (Theorem 3.3's proof, Fig 8) -------------------------------------------------------------------------------

def test_er_closed_form_values_limit_and_derivative():
    s = 0.3
    assert float(smoothing.er(torch.tensor([0.0]), s)) == pytest.approx(s / math.sqrt(2 * math.pi), rel=1e-12)
    u = torch.tensor([-2.0, -0.5, 0.5, 2.0], dtype=torch.float64)
    torch.testing.assert_close(smoothing.er(u, 1e-4), torch.relu(u), rtol=0, atol=1e-12)  # s → 0: ReLU
    # Er is even-plus-identity: Er(u) − Er(−u) = u
    torch.testing.assert_close(smoothing.er(u, s) - smoothing.er(-u, s), u, rtol=0, atol=1e-12)
    # d/du Er(u; s) = Φ(u / s), the smoothed ReLU's slope
    v = u.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(smoothing.er(v, s).sum(), v)
    torch.testing.assert_close(g, 0.5 * (1 + torch.erf(u / (math.sqrt(2) * s))), rtol=1e-10, atol=1e-12)


def test_er_monte_carlo_check_passes_and_catches_a_wrong_formula(monkeypatch):
    u = torch.linspace(-1, 1, 21, dtype=torch.float64)
    z, tail = smoothing.mc_check(u, 0.3, 200_000, seed=0)
    assert z < 5 and tail < 1e-4
    monkeypatch.setattr(smoothing, "er", lambda u, s: torch.relu(torch.as_tensor(u, dtype=torch.float64)))
    z_bad, _ = smoothing.mc_check(u, 0.3, 200_000, seed=0)
    assert z_bad > 50  # ReLU is not the smoothed ReLU: many standard errors off


# --- App. C, Table 4 symmetry -------------------------------------------------------------------------------------

def test_min_paths_straight_splits_equally_staircases_give_all_to_one():
    f = lambda v: axioms.MinModel()(v)[:, 0]  # noqa: E731
    zero, one = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    straight = axioms.path_attribution(f, [zero, one])
    torch.testing.assert_close(straight, torch.tensor([0.5, 0.5], dtype=torch.float64))
    right = axioms.path_attribution(f, [zero, torch.tensor([1.0, 0.0], dtype=torch.float64), one])
    up = axioms.path_attribution(f, [zero, torch.tensor([0.0, 1.0], dtype=torch.float64), one])
    # the kink at the end point (1, 1) has the subgradient (½, ½): a quadrature error of ¼ of a step
    torch.testing.assert_close(right, torch.tensor([0.0, 1.0], dtype=torch.float64), rtol=0, atol=0.3 / 199)
    torch.testing.assert_close(up, torch.tensor([1.0, 0.0], dtype=torch.float64), rtol=0, atol=0.3 / 199)
    for a in (straight, right, up):  # completeness: f(1, 1) − f(0, 0) = 1 along every path
        assert float(a.sum()) == pytest.approx(1.0, abs=1e-9)
    assert claims.symmetry_gap(straight.numpy()[None]) == pytest.approx(0.0, abs=1e-12)
    assert claims.symmetry_gap(right.numpy()[None]) == pytest.approx(1.0, abs=1 / 199)


def test_symmetric_net_is_symmetric_in_features_0_and_1():
    net = axioms.symmetric_net()
    v = torch.rand(16, 6, generator=torch.Generator().manual_seed(0))
    swapped = v[:, [1, 0, 2, 3, 4, 5]]
    torch.testing.assert_close(net(v), net(swapped))


def test_symmetry_and_completeness_gaps_by_hand():
    a = np.array([[1.0, 1.0, 5.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert claims.symmetry_gap(a) == pytest.approx(1 / 3)  # row 1: |2 − 1| / 3; row 2: 0/0 counts as 0
    np.testing.assert_allclose(claims.relative_completeness_gap(np.array([1.1, -2.0]), np.array([1.0, -1.0])),
                               [0.1, 1.0])


# --- Table 1 and Table 5 statistics --------------------------------------------------------------------------------

def test_pair_distances_raw_and_cosine_by_hand():
    x = np.array([[[3.0, 4.0]], [[1.0, 0.0]], [[1.0, 2.0]]])
    maps = {"sm": x, "bsm": np.stack([x[0], [[0.0, 2.0]], -x[2]]), "ig": x, "agi": 2 * x, "big": x}
    d = claims.pair_distances(maps)
    np.testing.assert_allclose(d["sm_bsm_raw"], [0.0, math.sqrt(5), 2 * math.sqrt(5)])
    np.testing.assert_allclose(d["sm_bsm_cos"], [0.0, 1.0, 2.0], atol=1e-12)  # same, orthogonal, opposite
    np.testing.assert_allclose(d["ig_agi_raw"], [5.0, 1.0, math.sqrt(5)])
    np.testing.assert_allclose(d["ig_agi_cos"], 0.0, atol=1e-12)  # a rescaled map has cosine distance 0
    np.testing.assert_allclose(d["ig_big_raw"], 0.0)
    zero = dict(maps, bsm=np.zeros_like(x))
    assert np.isnan(claims.pair_distances(zero)["sm_bsm_cos"]).all()  # cosine of a zero map is undefined


def _search_record():
    return {"success": np.array([1, 1, 1, 0]), "stages": np.array(["pgd", "cw", "apgd"]),
            "seconds": np.array([4.0, 2.0, 2.0]),
            "l2_pgd": np.array([1.0, 2.0, 3.0, np.inf]), "success_pgd": np.array([1, 1, 0, 0]),
            "l2_cw": np.array([0.5, 1.5, 2.0, np.inf]), "success_cw": np.array([1, 1, 1, 0]),
            "l2_apgd": np.array([0.5, 1.5, 2.0, np.inf]), "success_apgd": np.array([1, 1, 1, 0])}


def test_table5_rows_and_stage_gains_by_hand():
    s = _search_record()
    rows = claims.table5_rows(s)
    assert [r["stage"] for r in rows] == ["pgd", "cw", "apgd"]
    assert rows[0]["avg distance"] == pytest.approx(1.5) and rows[0]["success"] == pytest.approx(0.5)
    assert rows[1]["avg distance"] == pytest.approx(4.0 / 3) and rows[1]["success"] == pytest.approx(0.75)
    assert [r["s / instance (cumulative)"] for r in rows] == pytest.approx([1.0, 1.5, 2.0])
    gain, rel, succ = claims.stage_gain(s, "pgd", "cw")  # over the two points PGD found: reductions 0.5, 0.5
    assert gain.estimate == pytest.approx(0.5) and gain.lo == pytest.approx(0.5) and gain.hi == pytest.approx(0.5)
    assert rel == pytest.approx(0.5 / 1.5) and succ == pytest.approx(0.25)
    gain, rel, succ = claims.stage_gain(s, "cw", "apgd")
    assert gain.estimate == 0.0 and rel == 0.0 and succ == 0.0


def test_robust_gap_sign_and_interval():
    rng = np.random.default_rng(0)
    std, rob = 5 + rng.normal(size=200), 1 + rng.normal(size=200)
    g = claims.robust_gap(std, rob)
    assert g.lo > 3.5 and g.hi < 4.5 and g.estimate == pytest.approx(std.mean() - rob.mean())
    assert claims.robust_gap(rob, std).hi < 0


def test_smoothing_trend_and_randomisation_stats_on_known_inputs():
    sig = np.array([0.1, 0.2, 0.4])
    dist = np.array([[3.0, 3.1, 2.9, 3.2], [2.0, 2.1, 1.9, 2.2], [1.0, 1.1, 0.9, 1.2]])
    t = claims.smoothing_trend(sig, dist, np.ones_like(dist))
    assert t.estimate == pytest.approx(-1.0) and t.hi == pytest.approx(-1.0)
    rho = np.stack([np.ones(5), np.full(5, 0.8), np.array([0.1, 0.0, -0.1, 0.2, 0.05])])
    st = claims.randomisation_stats(rho)
    assert st["last"].estimate == pytest.approx(0.05) and st["drop"].estimate == pytest.approx(0.75)
    with pytest.raises(ValueError, match="at least one randomised stage"):
        claims.randomisation_stats(rho[:1])


# --- Fig 11 and Fig 15 kernels ------------------------------------------------------------------------------------

def _linear_model(seed=0, zero_bias=False):
    torch.manual_seed(seed)
    lin = nn.Linear(16, 3)
    if zero_bias:
        nn.init.zeros_(lin.bias)
    return nn.Sequential(nn.Flatten(), lin).eval()


def test_sg_vs_boundary_sg_is_zero_for_a_linear_model_and_batch_independent():
    model = _linear_model()
    x = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    y = model(x).argmax(1)
    kw = dict(sigma=0.1, draws=8, eps=3.0, steps=20)
    r = smoothing.sg_vs_boundary_sg(model, x, y, **kw)
    assert r["success"].any() and (r["delta"][r["success"]] > 0).all()
    torch.testing.assert_close(r["distance"], torch.zeros(6), rtol=0, atol=1e-5)  # SG of a linear logit = w_y
    for i in range(6):
        one = smoothing.sg_vs_boundary_sg(model, x[i:i + 1], y[i:i + 1], **kw)
        for k in r:
            torch.testing.assert_close(one[k], r[k][i:i + 1])


def test_cascading_big_zero_bias_stage_keeps_the_maps_weight_stage_does_not():
    model = _linear_model(zero_bias=True)
    x = torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    r = sanity.cascading_big(model, x, every=1, ladder=[0.5, 1.0, 2.0, 4.0], pgd_steps=20, bisect=10, ig_steps=10)
    assert r["stage_names"] == ["intact", "1.bias", "1.weight"]
    assert r["spearman"].shape == (3, 8) and (r["spearman"][0] == 1).all()
    # a zero tensor rescaled to its own norm stays zero: the model, the boundary and |BIG| are unchanged
    torch.testing.assert_close(r["spearman"][1], torch.ones(8, dtype=torch.float64))
    assert float(r["accuracy"][1]) == 1.0
    assert float(r["spearman"][2].median()) < 0.9  # random weights: another map
    # the caller's model is left intact
    assert (model[1].bias == 0).all()


# --- Figs 1/2 analogue: the exact nearest boundary point of a 2-D ReLU net ------------------------------------------

def _grid(n, lim=2.0):
    t = torch.linspace(-lim, lim, n, dtype=torch.float64)
    return torch.cartesian_prod(t, t)


def test_nearest_boundary_of_a_linear_net_is_the_closed_form_projection():
    from rilib.papers.wang2022 import toy

    net = toy.toy_net(hidden=(), seed=3)  # no hidden layer: one region, the boundary a line
    x = torch.tensor([0.7, -0.4], dtype=torch.float64)
    segs = toy.boundary_segments(net, _grid(5))
    assert len(segs) == 1 and segs[0].lo == -math.inf and segs[0].hi == math.inf
    p, d, _ = toy.nearest_boundary(x, segs)
    w = net[0].weight[0] - net[0].weight[1]
    b = net[0].bias[0] - net[0].bias[1]
    with torch.no_grad():
        assert d == pytest.approx(float((w @ x + b).abs() / w.norm()), rel=1e-10)
        assert float(net(p[None])[0, 0] - net(p[None])[0, 1]) == pytest.approx(0.0, abs=1e-10)


def test_nearest_boundary_matches_a_dense_brute_force_and_lies_on_the_boundary():
    from rilib.papers.wang2022 import toy

    net = toy.toy_net(seed=0)
    segs = toy.boundary_segments(net, _grid(241))
    dense = _grid(801)
    with torch.no_grad():
        d = net(dense)[:, 0] - net(dense)[:, 1]
    h = 4.0 / 800
    side = (d > 0).view(801, 801)
    edge = torch.zeros_like(side)
    edge[:-1] |= side[:-1] != side[1:]
    edge[:, :-1] |= side[:, :-1] != side[:, 1:]
    pts = dense[edge.flatten()]
    for x in ([0.3, 0.2], [-1.0, 0.5], [0.8, -1.2]):
        x = torch.tensor(x, dtype=torch.float64)
        p, dist, seg = toy.nearest_boundary(x, segs)
        with torch.no_grad():
            assert float(net(p[None])[0, 0] - net(p[None])[0, 1]) == pytest.approx(0.0, abs=1e-9)
        brute = float((pts - x).norm(dim=1).min())
        assert abs(dist - brute) <= 1.5 * h  # a boundary pixel is within a grid step of the boundary
        # the segment's normal is the margin's gradient inside it (p itself may sit on a kink between regions)
        mid = seg.point((max(seg.lo, -10.0) + min(seg.hi, 10.0)) / 2)
        v = mid.clone().requires_grad_(True)
        (g,) = torch.autograd.grad((net(v[None])[0, 0] - net(v[None])[0, 1]), v)
        assert float(torch.nn.functional.cosine_similarity(g, seg.normal, dim=0)) == pytest.approx(1.0, abs=1e-6)


def test_gradient_misses_by_hand():
    lg = np.array([1.0, 3.0, np.inf, 2.0, 5.0])
    lb = np.array([1.0, 1.0, 1.0, np.inf, 2.0])  # the 4th point: no boundary found, left out
    cos = np.array([1.0, 0.5, 0.2, 0.9, 0.4])
    r = claims.gradient_misses(lg, lb, cos)
    assert r["ratio"].estimate == pytest.approx(2.75)  # median of 1, 3, inf, 2.5
    assert r["cos"].estimate == pytest.approx(0.45)  # median of 1, 0.5, 0.2, 0.4


def test_er_net_is_the_smoothed_relu_layer_and_theorem33_bound_holds():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(3, 5, generator=g, dtype=torch.float64)
    x = torch.randn(4, 5, generator=g, dtype=torch.float64)
    sigma = 0.7
    net = smoothing.ErNet(W, sigma)
    eps = torch.randn(200_000, 5, generator=g, dtype=torch.float64) * sigma
    for i in range(4):  # E_ε ReLU(W(x + ε)) by Monte Carlo against the closed form (eq. 10)
        mc = torch.relu((x[i] + eps) @ W.T)
        se = mc.std(0) / math.sqrt(len(eps))
        assert ((mc.mean(0) - net(x[i:i + 1])[0]).abs() < 5 * se).all()
    # its saliency map of class i is Φ(u/s)·w_i (eq. 13)
    from rilib.gradients import input_grad

    u, s = x @ W[0], sigma * W[0].norm()
    torch.testing.assert_close(input_grad(net, x, 0), 0.5 * (1 + torch.erf(u / (math.sqrt(2) * s)))[:, None] * W[0])
    r = smoothing.theorem33(W, x, [0.1, 1.0], ladder=[0.5, 1, 2, 4, 8])
    assert r["distance"].shape == (2, 4) and r["success"].all()
    assert (r["distance"] <= r["lam"] + 1e-12).all()  # eq. 19 bounds every pair
    st = claims.theorem33_stats([0.1, 1.0], r)
    assert st["violations"] == 0 and st["lambda_monotone"] == 1.0 and st["points"] == 4


def test_theorem33_stats_by_hand():
    r = {"distance": np.array([[0.0, 0.1], [0.2, 0.3], [0.1, 0.05]]), "lam": np.array([[1.0, 1.0], [0.9, 0.2], [0.5, 0.4]]),
         "success": np.array([[1, 1], [1, 1], [1, 1]])}
    st = claims.theorem33_stats([0.1, 0.2, 0.4], r)
    assert st["violations"] == 1  # 0.3 > 0.2
    assert st["lambda_monotone"] == 0.0  # the second point's λ rises from 0.2 to 0.4
    np.testing.assert_allclose(st["median_distance"], [0.05, 0.25, 0.075])
    assert st["spearman"].estimate == pytest.approx(0.5)
