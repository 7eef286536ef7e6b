"""The Etmann chapter's checks (rilib.papers.etmann2019, rilib.geometry.affine): Lemma 1 on affine classifiers, the Sec 3.3 representation shift,
and the per-model theorem checks (Theorem 1, Lemma 2, Theorems 2/3) with their cache."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rilib.papers import etmann2019 as etmann
from rilib import geometry, zoo
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
