"""Training regimes: penalties equal their definitions; the loop is deterministic."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rilib import train


def _net(seed=0, d=6, c=4):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, c))  # smooth: second derivatives non-zero


def _per_example(fn, x):
    return torch.stack([fn(x[i:i + 1]) for i in range(x.shape[0])])


def test_input_grad_batched_equals_one_at_a_time(float64):
    model, x = _net(), torch.randn(7, 6)
    y = torch.randint(0, 4, (7,))
    for objective in ("logit", "loss"):
        g = train.input_grad(model, x, y, objective=objective)
        for i in range(7):
            gi = train.input_grad(model, x[i:i + 1], y[i:i + 1], objective=objective)
            assert torch.allclose(g[i:i + 1], gi, atol=1e-12)
    # default target = predicted class
    pred = model(x).argmax(1)
    assert torch.allclose(train.input_grad(model, x), train.input_grad(model, x, pred))


def test_input_grad_create_graph_allows_second_order(float64):
    model, x = _net(), torch.randn(5, 6)
    g = train.input_grad(model, x, 1, create_graph=True)
    (gp,) = torch.autograd.grad(g.pow(2).sum(), model[0].weight)
    assert gp.abs().sum() > 0
    with pytest.raises(RuntimeError):
        torch.autograd.grad(train.input_grad(model, x, 1).pow(2).sum(), model[0].weight)


def test_double_backprop_penalty_and_paper_convention(float64):
    model, x = _net(), torch.randn(8, 6)
    y = torch.randint(0, 4, (8,))
    lam = 0.3
    loss, _ = train.DoubleBackprop(lam)(model, x, y)
    g = train.input_grad(model, x, y, objective="loss")
    expected = F.cross_entropy(model(x), y) + lam * g.flatten(1).pow(2).sum(1).mean()
    assert torch.allclose(loss, expected)
    # Etmann's code: λ_paper · mean_i ‖∇ₓ (batch-mean loss)‖², i.e. per-example weight λ_paper / B²
    lam_paper = 1e4
    xr = x.detach().requires_grad_(True)
    (gm,) = torch.autograd.grad(F.cross_entropy(model(xr), y), xr)
    paper_pen = lam_paper * gm.flatten(1).pow(2).sum(1).mean()
    ours, _ = train.DoubleBackprop.from_paper(lam_paper, batch_size=8)(model, x, y)
    assert torch.allclose(ours - F.cross_entropy(model(x), y), paper_pen)
    assert train.DoubleBackprop.from_paper(180_000, batch_size=100).lam == pytest.approx(18.0)


def test_jacobian_penalty_is_frobenius_norm(float64):
    model, x = _net(), torch.randn(5, 6)
    y = torch.randint(0, 4, (5,))
    jac = torch.stack([torch.autograd.functional.jacobian(model, x[i]) for i in range(5)])  # (B, C, D)
    fro = jac.flatten(1).norm(dim=1)
    for squared, pen in ((False, fro), (True, fro ** 2)):
        loss, _ = train.JacobianReg(0.7, squared=squared)(model, x, y)
        assert torch.allclose(loss, F.cross_entropy(model(x), y) + 0.7 * pen.mean())


def test_interpretation_regularization_matches_eq3(float64):
    model, x = _net(), torch.randn(6, 6)
    y = torch.randint(0, 4, (6,))
    target = torch.rand(6, 6)
    loss, _ = train.InterpretationReg(0.2)(model, x, y, target)
    g = train.input_grad(model, x, y).abs()
    assert torch.allclose(loss, F.cross_entropy(model(x), y) + 0.2 * (g - target).norm(dim=1).mean())
    with pytest.raises(ValueError, match="target interpretations"):
        train.InterpretationReg(0.2)(model, x, y)


def test_adversarial_regime_trains_on_worse_examples():
    model, x = _net(), torch.rand(20, 6)
    y = torch.randint(0, 4, (20,))
    model.train()
    adv_loss, _ = train.Adversarial(eps=0.5, norm="l2", steps=10)(model, x, y)
    assert model.training  # mode restored
    assert adv_loss > F.cross_entropy(model(x), y)


def test_fit_is_deterministic_and_learns():
    torch.manual_seed(0)
    x = torch.randn(300, 6)
    y = (x[:, 0] > 0).long()
    states = []
    for _ in range(2):
        model = _net(seed=3, c=2)
        res = train.fit(model, x, y, train.CrossEntropy(), epochs=3, batch_size=20, seed=5, x_test=x, y_test=y,
                        optimizer={"name": "adam", "lr": 1e-2},
                        progress=False)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert res.test_acc > 0.9 and len(res.train_loss) == 3 and res.train_loss[-1] < res.train_loss[0]


def test_fit_reports_divergence_clearly():
    model = _net(c=2)
    x, y = torch.randn(20, 6), torch.randint(0, 2, (20,))
    with pytest.raises(FloatingPointError, match="loss became"):
        train.fit(model, x * float("nan"), y, train.CrossEntropy(), epochs=1, progress=False)
