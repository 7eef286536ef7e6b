"""The Etmann chapter's checks (rilib.papers.etmann2019, rilib.geometry.affine): Lemma 1 on affine classifiers, the Sec 3.3 representation shift,
and the per-model theorem checks (Theorem 1, Lemma 2, Theorems 2/3) with their cache."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rilib.papers import etmann2019 as etmann
from rilib import geometry, zoo
from rilib.evaluation import Interval
from rilib.models import EtmannSmallNet, Shifted, SmallResNet


@pytest.mark.parametrize("with_bias", [True, False])
def test_affine_exact_distance_is_the_distance_to_the_boundary_and_equals_rho_tilde(with_bias):
    torch.manual_seed(0)
    lin = nn.Linear(12, 5, bias=with_bias).double().eval()
    x = torch.randn(40, 12, dtype=torch.float64)
    W, b = lin.weight.detach(), (lin.bias.detach() if with_bias else None)
    rho = geometry.affine_distance(W, b, x)
    pred = lin(x).argmax(1)
    # no perturbation shorter than ρ changes the class (random directions, radius just below ρ) ...
    u = torch.randn(40, 2000, 12, dtype=torch.float64)
    u = u / u.norm(dim=2, keepdim=True)
    inside = x[:, None] + u * (rho * (1 - 1e-9))[:, None, None]
    assert torch.all(lin(inside).argmax(2) == pred[:, None])
    # ... and one of length just above ρ does: the projection onto the nearest half space, slightly overshot
    logits = lin(x)
    gaps = (logits.gather(1, pred[:, None]) - logits) / (W[pred][:, None] - W[None]).norm(dim=2)
    gaps = gaps.masked_fill(torch.nn.functional.one_hot(pred, 5).bool(), float("inf"))
    j = gaps.argmin(1)
    d = W[j] - W[pred]
    x_adv = x + d / d.norm(dim=1, keepdim=True) * (rho * (1 + 1e-9))[:, None]
    assert torch.all(lin(x_adv).argmax(1) != pred)
    # Lemma 1: ρ = ρ̃; without bias also ρ = α†
    geo = geometry.geometry(lin, x)
    torch.testing.assert_close(geo.rho_tilde, rho, rtol=1e-12, atol=0)
    if not with_bias:
        torch.testing.assert_close(geo.alpha_dagger, rho, rtol=1e-12, atol=0)


def test_shifted_model_is_the_same_classifier_with_the_same_robustness_but_another_alignment():
    torch.manual_seed(0)
    model = EtmannSmallNet().double().eval()
    x = torch.rand(16, 1, 28, 28, dtype=torch.float64)
    c = float(x.mean())
    shifted = Shifted(model, c)
    torch.testing.assert_close(shifted(x - c), model(x), rtol=1e-12, atol=1e-12)
    before, after = geometry.geometry(model, x), geometry.geometry(shifted, x - c)
    torch.testing.assert_close(after.rho_tilde, before.rho_tilde, rtol=1e-10, atol=0)
    assert (after.alpha - before.alpha).abs().max() > 1e-3 * before.alpha.abs().max()


def _cohort_model(model, key):
    return etmann.CohortModel(1.0, 1.0, zoo.ZooEntry(model.eval(), {"key": key}, zoo.cache_dir(), loaded=True))


@pytest.mark.parametrize("arch", ["smallnet", "resnet"])
def test_theorem_checks_hold_on_random_networks_with_biases_and_are_cached(arch, tmp_path, monkeypatch):
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path))
    torch.manual_seed(1)
    if arch == "smallnet":
        model = EtmannSmallNet()
    else:
        model = SmallResNet(in_channels=1, width=4)
        with torch.no_grad():  # non-trivial running statistics, so that BN contributes to the bias term
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("bias"):
                p.uniform_(-0.2, 0.2)
    cm = _cohort_model(model, f"test-{arch}")
    x = torch.rand(12, 1, 28, 28)
    chk = etmann.theorem_checks(cm, x, name="test")
    assert chk["thm1_residual"].max() < 1e-10
    assert chk["lemma2_rel_err"].max() < 1e-8
    for k in ("14", "15", "16"):
        assert chk[f"viol{k}"].max() <= 1e-12
        assert np.all((chk[f"slack{k}"] >= 0) == (chk[f"viol{k}"] <= 0))
    assert len(list((tmp_path / "results").glob("etmann-theorems-test-*.npz"))) == 1
    again = etmann.theorem_checks(cm, x, name="test")  # from the cache
    for k, v in chk.items():
        np.testing.assert_array_equal(again[k], v)


# ---------------------------------------------------------------------------------------------------------------
# claim statistics on cohorts of known answer
# ---------------------------------------------------------------------------------------------------------------
def _fake_cohort(per_model, accs=None, lams=None):
    """CohortModels without networks (the statistics read only λ and the test accuracy) and their measurements."""
    n = len(per_model)
    accs = accs or [0.9] * n
    lams = lams or list(np.geomspace(10, 1e4, n))
    models = [etmann.CohortModel(lam, lam / 1e4, zoo.ZooEntry(None, {"test_acc": a, "key": f"m{i}"}, zoo.cache_dir(),
                                                               loaded=True))
              for i, (lam, a) in enumerate(zip(lams, accs))]
    return models, per_model


def _measurement(rho, alpha, n=60, noise=0.0, seed=0, **over):
    """Per-point arrays of one model: every quantity constant over the points (so medians are known exactly), plus
    optional multiplicative noise."""
    rng = np.random.default_rng(seed)
    f = lambda v: np.full(n, float(v)) * (1 + noise * rng.standard_normal(n))  # noqa: E731
    m = {"rho_tilde": f(rho), "alpha": f(alpha), "alpha_dagger": f(alpha), "dist_gradient": f(2 * rho),
         "dist_bim_l2": f(rho), "dist_bim": f(1.1 * rho), "dist_cw": f(rho), "beta_term": f(1.0),
         "angle_term": f(1.0), "xi_alignment": f(1.0), "xi_angle_term": f(1.0), "linear_dagger": f(1.0),
         "psi_dagger": f(2.0), "signed_alpha": f(alpha)}
    m.update({k: f(v) for k, v in over.items()})
    return m


def test_alignment_statistics_known_cohort():
    rho = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    concave = np.sqrt(rho)  # M[α] saturating in M[ρ̃]
    models, meas = _fake_cohort([_measurement(r, a) for r, a in zip(rho, concave)] + [_measurement(9.0, 0.1)],
                                accs=[0.9] * 5 + [0.5])  # the last model is degenerate: left out
    st = etmann.alignment_statistics(models, meas, n_boot=50)
    assert st["n_models"] == 5 and st["degenerate"] == 1
    for notion in ("rho_tilde", "gradient", "bim", "cw"):
        assert st[f"spearman_{notion}"] == Interval(1.0, 1.0, 1.0)
    assert st["curvature"].estimate < 0 and st["curvature"].hi < 0
    # BIM and CW travel ρ, the gradient attack 2ρ: 1 − ρ/(2ρ) = 0.5 for every model
    assert st["attack_gap_min"].estimate == pytest.approx(0.5)
    assert st["spearman_lambda_cw"].estimate == pytest.approx(1.0)
    assert st["rho_tilde_over_cw_min"].estimate == pytest.approx(1.0) == st["rho_tilde_over_cw_max"].estimate
    assert st["rank_agreement_min"].estimate == pytest.approx(1.0)
    # convex instead: the curvature changes sign
    models, meas = _fake_cohort([_measurement(r, r ** 2) for r in rho])
    assert etmann.alignment_statistics(models, meas, n_boot=20)["curvature"].lo > 0


def test_attack_gap_is_negative_when_an_attack_is_above_the_gradient_attack():
    meas = [_measurement(r, r, dist_gradient=r, dist_cw=1.5 * r) for r in (1.0, 2.0, 3.0)]
    st = etmann.alignment_statistics(*_fake_cohort(meas), n_boot=20)
    assert st["attack_gap_min"].estimate == pytest.approx(-0.5)


def test_pointwise_statistics_known_correlations():
    rng = np.random.default_rng(0)
    meas = []
    for i in range(3):
        r = rng.uniform(0.5, 3, 200)
        cw = 2 * r
        cw[:5] = np.inf  # failed CW attacks are left out of the correlation
        signed = np.where(np.arange(200) < 100, 1.0, -1.0) * rng.uniform(1, 2, 200)
        meas.append({"rho_tilde": r, "alpha": r ** 3, "alpha_dagger": rng.uniform(size=200), "dist_cw": cw,
                     "signed_alpha": signed})
    st = etmann.pointwise_statistics(*_fake_cohort(meas), n_boot=50)
    assert st["pearson_cw_min"].estimate == pytest.approx(1.0)
    assert st["spearman_alpha_median"].estimate == pytest.approx(1.0)
    assert st["spearman_alpha_max_abs"].estimate == pytest.approx(1.0)
    assert st["spearman_alpha_dagger_max_abs"].estimate < 0.3
    assert st["median_zero_ratio_max"].estimate < 0.2


def test_bound_statistics_known_shares():
    # share(18) = α†/(α† + β) with β = 1; share(19) = α/(α + 1 + 1); share(20) = 1/2; Fig 9 ratio = 1/2
    alphas = [1.0, 2.0, 3.0, 4.0]
    meas = [_measurement(r, a) for r, a in zip([1.0, 2.0, 3.0, 4.0], alphas)]
    st = etmann.bound_statistics(*_fake_cohort(meas), n_boot=20)
    s18 = np.array(alphas) / (np.array(alphas) + 1)
    s19 = np.array(alphas) / (np.array(alphas) + 2)
    assert st["share_18_spearman"].estimate == pytest.approx(1.0)
    assert st["share_19_growth"].estimate == pytest.approx(s19[-1] / s19[0])
    assert st["share_19_range_minus_18"].estimate == pytest.approx(np.ptp(s19) - np.ptp(s18))
    assert st["share_20_range"].estimate == pytest.approx(0.0)
    assert st["ratio_9_last"].estimate == pytest.approx(0.5) and st["ratio_9_max_low"].estimate == pytest.approx(0.5)
    assert st["share_gap_18_19_min"].estimate == pytest.approx(np.min(s18 - s19))
    table = etmann.summarize(*_fake_cohort(meas))
    np.testing.assert_allclose(table["share_alpha_dagger_18"], s18)
    np.testing.assert_allclose(table["share_alpha_19"], s19)


def test_saliency_statistics_pick_least_and_most_robust_and_count_points():
    a_low = np.linspace(0, 1, 100)
    meas = [_measurement(1.0, 0.5, n=100), _measurement(3.0, 0.5, n=100), _measurement(2.0, 0.5, n=100)]
    meas[0]["alpha"], meas[1]["alpha"] = a_low.copy(), a_low + 0.5
    meas[1]["alpha"][:10] = -1  # on 10 of 100 points the most robust model has the smaller α
    st = etmann.saliency_statistics(*_fake_cohort(meas), n_boot=50)
    assert (st["least"], st["most"]) == (0, 1)
    assert st["alpha_larger"].estimate == pytest.approx(0.9)
    assert st["alpha_larger"].lo > 0.8


def test_lemma1_experiment_closed_form_and_cw_lower_bound():
    out = etmann.lemma1_experiment(profile="ci", n_points=40, dim=12, n_classes=4)
    assert out["rel_err"] < 1e-10
    assert out["cw_min_ratio"] >= 1 - 1e-4  # no attack can beat the exact distance
    assert isinstance(out["cw_median_ratio"], Interval)


def test_def2_and_shift_experiments():
    torch.manual_seed(0)
    model = EtmannSmallNet().eval()
    x = torch.rand(10, 1, 28, 28)
    assert etmann.def2_pearson_error(model, x) < 1e-10
    models, _ = _fake_cohort([{}])
    models[0].entry.model = model
    out = etmann.shift_experiment(models, x, 0.3)
    assert out["rho_tilde_max_rel_change"] < 1e-10
    assert out["alpha_min_abs_change"].estimate > 0
    assert len(out["rows"]) == 1


def test_attack_comparison_on_known_distances():
    """Medians over the points both attacks solved; a re-run that differs or fails elsewhere is flagged."""
    from rilib.papers.etmann2019 import attack_comparison

    inf = float("inf")
    chk = {"cw": np.array([1.0, 2.0, 3.0, inf]), "cw_rerun": np.array([1.0, 2.0, 3.0, inf]),
           "cw_long": np.array([0.5, 1.0, 1.5, 2.0]), "ddn": np.array([0.5, 1.0, 1.0, 1.0]),
           "seconds_cw_rerun": 10.0, "seconds_cw_long": 100.0, "seconds_ddn": 2.5}
    out = attack_comparison(chk)
    assert out["cw_over_long"] == pytest.approx(2.0 / 1.0)  # medians of the first three: 2 / 1
    assert out["ddn_over_long"] == pytest.approx(1.0 / 1.25)  # all four finite: 1.0 / 1.25
    assert out["ddn_time_over_cw"] == 0.25 and out["cw_rerun_max_diff"] == 0.0 and out["cw_rerun_flips"] == 0
    assert out["table"]["failures CW (profile)"] == 1 and out["table"]["median CW (long)"] == 1.25
    moved = dict(chk, cw_rerun=np.array([1.0, 2.5, 3.0, inf]))
    assert attack_comparison(moved)["cw_rerun_max_diff"] == pytest.approx(0.5)
    flipped = attack_comparison(dict(chk, cw_rerun=np.array([1.0, 2.0, 3.0, 4.0])))
    assert flipped["cw_rerun_max_diff"] == 0.0 and flipped["cw_rerun_flips"] == 1
