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


# ---- Figs 1, 2, 6: the chapter's cohort and claim statistics ---------------------------------------------------
from rilib.papers.kim2019 import claims as kclaims  # noqa: E402
from rilib.papers.kim2019 import cohort as kcohort  # noqa: E402


def test_cohort_has_the_papers_grids_in_both_scales():
    models = kcohort.cohort("mnist", "default")
    assert len(models) == 13 and models[0].name == "standard"
    l2 = [m.eps_paper for m in kcohort.panel(models, "l2", "ce")[1:]]
    linf = [m.eps_paper for m in kcohort.panel(models, "linf", "cw")[1:]]
    assert l2 == [1.0, 2.0, 4.0] and linf == [0.05, 0.1, 0.2]  # the paper's MNIST/FMNIST grids, [−1, 1] scale
    spec = kcohort.spec(models[-1], "paper")
    assert spec.regime_kwargs["steps"] == 40 and not spec.regime_kwargs["random_start"]
    assert spec.regime_kwargs["adversarial_only"] and spec.arch_kwargs == {"pool_after_conv1": False}
    # the code's steps at 40 steps; raised where k steps could not reach the sphere
    assert kcohort.step_size("linf", 0.1, 40, "paper") == 0.01 and kcohort.step_size("l2", 2.0, 40, "paper") == 1.0
    assert kcohort.step_size("linf", 0.1, 7, "default") == pytest.approx(2.5 * 0.1 / 7)
    assert len({kcohort.spec(m, "default").key for m in models}) == 13


def test_sparsity_and_smoothness_on_maps_of_known_value():
    n = 16
    uniform, one = np.ones((1, 4, 4)), np.zeros((1, 4, 4))
    one[0, 1, 2] = -3.0
    assert kclaims.sparsity(uniform)[0] == pytest.approx(0.0)
    assert kclaims.sparsity(one)[0] == pytest.approx(1 - 1 / n)
    assert np.isnan(kclaims.sparsity(np.zeros((1, 4, 4)))[0])
    h, w = 5, 7
    checker = np.where((np.arange(h)[:, None] + np.arange(w)[None]) % 2 == 0, 1.0, -1.0)[None]
    assert kclaims.smoothness(uniform)[0] == 0.0
    assert kclaims.smoothness(checker)[0] == pytest.approx(2 * (h * (w - 1) + w * (h - 1)) / (h * w))
    maps = np.random.default_rng(0).normal(size=(6, 5, 7))
    for f in (kclaims.sparsity, kclaims.smoothness):  # batched == one at a time
        assert np.allclose(f(maps), [f(maps[i:i + 1])[0] for i in range(6)])


def test_manifold_statistics_on_known_distances():
    models = kcohort.cohort("mnist", "ci")
    rng = np.random.default_rng(0)
    n = 50
    meas = {}
    for m in models:
        d = 10.0 - 2.0 * m.eps * (1 if m.norm == "l2" else 20) + rng.uniform(-0.1, 0.1, n)  # falls with ε
        success = np.ones(n, bool)
        success[:5] = False
        d[:5] = 1e6  # failed attacks are removed, whatever their distance
        meas[m.name] = {"d_adv": d, "success": success, "judge_agrees": (np.arange(n) % 2 == 0),
                        "d_clean": np.full(n, 3.0)}
    st = kclaims.manifold_statistics(meas, models, n_boot=200)
    for m in models:
        assert st[f"dpi_{m.name}"].estimate == pytest.approx(np.median(meas[m.name]["d_adv"][5:]))
        assert st[f"success_{m.name}"].estimate == pytest.approx(0.9)
        assert st[f"judge_{m.name}"].estimate == pytest.approx(np.mean(meas[m.name]["judge_agrees"][5:]))
    for norm, obj in kcohort.PANELS:
        tag = f"{norm}_{obj}"
        chain = kcohort.panel(models, norm, obj)
        assert st[f"dpi_drop_{tag}"].estimate == pytest.approx(st["dpi_standard"].estimate
                                                               - st[f"dpi_{chain[-1].name}"].estimate)
        assert st[f"dpi_drop_{tag}"].lo > 0 and st[f"dpi_spearman_{tag}"].estimate == pytest.approx(-1.0)
        assert st[f"dpi_mindrop_{tag}"].estimate == pytest.approx(st["dpi_standard"].estimate
                                                                  - st[f"dpi_{chain[1].name}"].estimate)
        assert st[f"judge_gain_{tag}"].estimate == pytest.approx(0.0)
    assert st["dpi_clean"].estimate == 3.0


def test_layer_table_reads_the_architecture_from_the_model():
    from rilib import models

    for kw, side in (({}, 14), ({"pool_after_conv1": True}, 7)):
        net = models.build("kim_cnn", **kw)
        rows = models.layer_table(net, (1, 28, 28))
        assert sum(r["parameters"] for r in rows) == sum(p.numel() for p in net.parameters())
        assert [r["layer"] for r in rows if r["layer"] == "Conv2d"] == ["Conv2d", "Conv2d"]
        assert f"64×{side}×{side}" in [r["output"] for r in rows] and rows[-1]["output"] == "10"
        assert net.training  # the model's mode is restored


def test_image_correlation_of_maps_of_known_value():
    x = np.random.default_rng(1).uniform(size=(4, 1, 6, 6))
    assert np.allclose(kclaims.image_correlation(x[:, 0], x), 1.0)
    assert np.allclose(kclaims.image_correlation(-3 * x[:, 0], x), 1.0)  # |g| follows the image
    assert np.allclose(kclaims.image_correlation(1 - x[:, 0], x), -1.0)
    st = kclaims.map_statistics({"a": x[:, 0], "b": 1 - x[:, 0]}, x, differences=[("a", "b")], n_boot=50)
    assert st["corr_a"].estimate == pytest.approx(1.0) and st["corr_b"].estimate == pytest.approx(-1.0)
    assert st["corr_a_minus_b"].estimate == pytest.approx(2.0) and st["corr_a_minus_b"].lo > 1.9
    assert st["gini_a"].estimate == pytest.approx(float(np.median(kclaims.sparsity(x[:, 0]))))


def test_roar_statistics_on_known_scores():
    models = kcohort.cohort("fashion-mnist", "ci")
    # scores rise linearly with ε (per unit of the grid's largest ε), GX = G + 0.01; accuracy falls with ε
    scores, acc = {}, {}
    for m in models:
        top = max(x.eps for x in models if x.norm == m.norm) if m.norm else 1.0
        r = m.eps / top
        acc[m.name] = 0.9 - 0.1 * r
        for meth, extra in (("G", 0.0), ("GX", 0.01)):
            scores[f"{m.name}/{meth}"] = {"roar": 0.02 + 0.06 * r + extra, "kar": 0.01 - 0.02 * r * (m.norm == "l2") + extra}
    st = kclaims.roar_statistics(models, scores, acc, {"roar": 0.001, "kar": 0.001, "n": 3})
    assert st["rise_roar_g_l2_ce"].estimate == pytest.approx(0.06)
    assert st["rise_roar_g_l2_ce"].lo == pytest.approx(0.06 - 4.302653 * np.sqrt(2) * 0.001)  # t(0.975, 2 dof)
    assert kclaims.roar_statistics(models, scores, acc, {"roar": 0.001, "kar": 0.001, "n": 1})["rise_roar_g_l2_ce"].isnan
    assert st["spearman_eps_roar_gx_linf_cw"] == pytest.approx(1.0)
    assert st["pearson_acc_roar_g_l2_ce"] == pytest.approx(-1.0)
    assert st["rise_kar_g_l2_ce"].estimate == pytest.approx(-0.02) and st["rise_kar_g_linf_ce"].estimate == 0.0
    assert st["roar_gx_minus_g"].estimate == pytest.approx(0.01) and st["kar_gx_minus_g"].estimate == pytest.approx(0.01)
    assert st["roar_g_adv_minus_std"].estimate == pytest.approx(0.06 * 0.25)  # smallest ε: a quarter of the largest
    assert st["kar_g_adv_minus_std"].estimate == pytest.approx(0.0)  # L2 nets (falling under KAR-G) left out
    # L2 and L∞ curves coincide as functions of accuracy under ROAR; under KAR L2 falls, L∞ stays: gap −0.02·r avg
    assert st["roar_g_ce_l2_minus_linf"].estimate == pytest.approx(0.0, abs=1e-12)
    assert st["kar_g_ce_l2_minus_linf"].estimate == pytest.approx(-0.01, abs=1e-3)


def test_accuracy_trend_per_panel():
    from rilib.papers.kim2019 import checks

    rows = [{"dataset": "mnist", "model": m.name, "clean test accuracy": 0.99 - (m.eps if m.norm == "l2" else -m.eps)}
            for m in kcohort.cohort("mnist", "ci")]
    t = checks.accuracy_trend(rows, "ci")
    assert t["acc_spearman_mnist_l2_ce"] == pytest.approx(-1.0) and t["acc_spearman_mnist_linf_cw"] == pytest.approx(1.0)


def test_roar_noise_is_one_retrainings_spread_over_root_repeats():
    from rilib.evaluation import roar
    from rilib.papers.kim2019 import roar_kar

    fr = [0.1, 0.3, 0.5, 0.7, 0.9]
    rnd = np.array([[0.8, 0.7, 0.6, 0.5, 0.4], [0.7, 0.6, 0.5, 0.4, 0.3], [0.9, 0.8, 0.7, 0.6, 0.5]])
    areas = [roar.curve_area(*roar.full_curve(r, fr, start=0.9, end=0.1)) for r in rnd]
    model = np.tile(rnd[:1], (3, 1))  # three retrainings per point
    c = {"fractions": fr, "start": 0.9, "random": {"roar": rnd, "kar": rnd},
         "accuracies": {"m/G": {"roar": model, "kar": model}}}
    n = roar_kar.noise(c)
    assert n["repeats"] == 3 and n["n"] == 3
    assert n["single_roar"] == pytest.approx(np.std(areas, ddof=1))
    assert n["roar"] == pytest.approx(np.std(areas, ddof=1) / np.sqrt(3))
    c["accuracies"]["m/GX"] = {"roar": model[:1], "kar": model[:1]}
    with pytest.raises(ValueError, match="different numbers"):
        roar_kar.noise(c)


def test_mnist_pools_carry_the_training_check_longest_first(tmp_path, monkeypatch):
    """The Figs 1/2 page's MNIST pools also train the models page's check nets (the PGD-40 net first) and run their
    DDN jobs (the PGD-40 net's first); Fashion-MNIST's pools do not; a cached DDN result is not run again."""
    from rilib import zoo
    from rilib.papers.kim2019 import checks, jobs

    monkeypatch.setenv("RILIB_CACHE", str(tmp_path))
    trained, mapped = [], []
    monkeypatch.setattr(jobs.zoo, "prefetch", lambda specs, device=None: trained.append(list(specs)))
    monkeypatch.setattr(jobs.parallel, "map_jobs", lambda fn, todo, desc="": mapped.append(list(todo)))
    check = checks.check_specs("ci")
    jobs.prepare("mnist", "ci")
    assert trained[0][0] == check["long"] and check["paper_net"] in trained[0]
    assert check["profile"] in trained[0]  # a member of the cohort
    kinds = [(j[0], j[1]) for j in mapped[0]]
    assert kinds[0] == ("ddn", check["long"])
    assert {k for k, _ in kinds} == {"ddn", "manifold"} and len(kinds) == len(kcohort.cohort("mnist", "ci")) + 3
    assert kinds[-2:] == [("ddn", check["profile"]), ("ddn", check["paper_net"])]
    # the long net's DDN result cached: not run again
    x, y, key = checks._ddn_where(check["long"], "ci")
    zoo.cached_arrays("kim-ddn", key, lambda: {"l2": np.zeros(len(x))})
    jobs.prepare("mnist", "ci")
    assert ("ddn", check["long"]) not in [(j[0], j[1]) for j in mapped[1]] and mapped[1][0][0] == "ddn"
    jobs.prepare("fashion-mnist", "ci")
    assert not any(s in trained[2] for s in check.values()) and {j[0] for j in mapped[2]} == {"manifold"}
