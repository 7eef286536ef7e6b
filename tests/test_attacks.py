"""Attacks: projections stay in their ε-ball and the data bounds; minimal distances match closed forms."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rilib import attacks, geometry


def _mlp(d=8, c=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, c)).eval()


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_project_is_inside_ball_and_identity_inside(norm):
    delta = torch.randn(50, 3, 4, 4) * 3
    eps = 0.7
    p = attacks.project(delta, eps, norm)
    size = p.flatten(1).norm(dim=1) if norm == "l2" else p.flatten(1).abs().amax(1)
    assert torch.all(size <= eps * (1 + 1e-6))
    small = delta / delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * 0.01  # inside both balls
    assert torch.allclose(attacks.project(small, eps, norm), small)
    if norm == "l2":  # the L2 projection of an outside point is its radial scaling onto the sphere
        outside = delta.flatten(1).norm(dim=1) > eps
        assert torch.allclose(p.flatten(1).norm(dim=1)[outside], torch.full((int(outside.sum()),), eps), atol=1e-5)


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("random_start", [False, True])
@pytest.mark.parametrize("loss", ["ce", "cw"])
def test_pgd_stays_in_ball_and_bounds(norm, random_start, loss):
    model = _mlp()
    x = torch.rand(40, 8)
    y = torch.randint(0, 3, (40,))
    eps = 0.3
    x_adv = attacks.pgd(model, x, y, eps=eps, norm=norm, steps=15, step_size=0.2, loss=loss,
                        random_start=random_start, bounds=(0.0, 1.0), generator=torch.Generator().manual_seed(1))
    d = x_adv - x
    size = d.flatten(1).norm(dim=1) if norm == "l2" else d.abs().amax(1)
    assert torch.all(size <= eps + 1e-6)
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    # it ascends the objective
    obj = lambda z: attacks.pgd_train._objective(model(z), y, loss).sum()  # noqa: E731
    assert obj(x_adv) >= obj(x)


def test_pgd_zero_eps_is_identity():
    model, x = _mlp(), torch.rand(5, 8)
    assert torch.equal(attacks.pgd(model, x, torch.zeros(5, dtype=torch.long), eps=0.0), x)


def test_gradient_line_search_finds_linear_boundary_exactly():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(30, 20, generator=g)
    z = torch.randn(20, generator=g)
    z = z / z.norm()
    for b in (0.0, float(-(x @ z).median()) + 1e-3):
        model = geometry.AffineBinary(z, b)
        rho = geometry.affine_distance(model.weight, model.bias, x)
        res = attacks.attack(model, x, method="gradient", bounds=(-10.0, 10.0))
        assert res.success.all()
        assert torch.allclose(res.l2, rho, rtol=1e-4, atol=1e-5)
        # the adversarial point is (just) across the boundary
        with torch.no_grad():
            assert torch.all(model(res.x_adv).argmax(1) != model(x).argmax(1))


def _linear_case():
    """12 points, a linear binary classifier through the origin and each point's exact distance ρ to its boundary."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 10, generator=g)
    z = torch.randn(10, generator=g)
    z = z / z.norm()
    model = geometry.AffineBinary(z, 0.0)
    return x, model, geometry.affine_distance(model.weight, model.bias, x)


def test_grid_search_keeps_smallest_successful_epsilon_and_inf_on_failure():
    x, model, rho = _linear_case()
    grid = [0.01 * 1.1 ** k for k in range(80)]
    res = attacks.attack(model, x, method="fgm", bounds=(-10.0, 10.0), epsilons=grid)
    ok = rho < grid[-1]
    assert torch.all(res.epsilon[ok] >= rho[ok] - 1e-5)
    assert torch.all(res.epsilon[ok] <= rho[ok] * 1.1 + 1e-5)  # within one grid step above ρ
    # a grid that is too small: every attack fails and counts as +inf
    tiny = attacks.attack(model, x, method="fgm", bounds=(-10.0, 10.0), epsilons=[1e-6, 2e-6])
    assert not tiny.success.any() and torch.isinf(tiny.l2).all() and torch.isinf(tiny.epsilon).all()
    assert math.isclose(tiny.failure_rate, 1.0)


def test_grid_search_equals_every_epsilon_on_every_point_keeping_the_first_success():
    """The ladder attacks a point at an ε only when no smaller ε fooled it; that must equal running each ε on every
    point and keeping, per point, the first success (failures: the last ε's output)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3)).eval()
    x = torch.rand(10, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    y = model(x).argmax(1)
    grid = [0.05, 0.2, 0.6, 1.5]
    kw = dict(method="pgd", bounds=(0.0, 1.0), steps=10, rel_stepsize=0.2, seed=3)
    ladder = attacks.attack(model, x, y, epsilons=grid, **kw)
    runs = [attacks.attack(model, x, y, epsilons=e, **kw) for e in grid]
    for i in range(len(x)):
        k = next((j for j, r in enumerate(runs) if bool(r.success[i])), None)
        want = runs[-1 if k is None else k].x_adv[i]
        torch.testing.assert_close(ladder.x_adv[i], want)
        assert bool(ladder.success[i]) == (k is not None)
        assert float(ladder.epsilon[i]) == pytest.approx(float("inf") if k is None else grid[k])
    assert 0 < int(ladder.success.sum()) < len(x) or ladder.success.all()


def test_refined_grid_search_brackets_the_boundary_per_example():
    x, model, rho = _linear_case()
    grid = [0.01 * 1.5 ** k for k in range(20)]
    coarse = attacks.attack(model, x, method="fgm", bounds=(-10.0, 10.0), epsilons=grid)
    fine = attacks.attack(model, x, method="fgm", bounds=(-10.0, 10.0), epsilons=grid, refine=10)
    ok = rho < grid[-1]
    assert ok.sum() >= 10
    # still an upper bound on ρ (every reported ε succeeded), never above the grid's answer, and now within
    # 1.5^(1/1024) of ρ instead of within one grid step
    assert torch.all(fine.epsilon[ok] >= rho[ok] - 1e-5)
    assert torch.all(fine.epsilon[ok] <= coarse.epsilon[ok] + 1e-7)
    assert torch.all(fine.epsilon[ok] <= rho[ok] * 1.5 ** (1 / 1024) + 1e-5)
    assert torch.all(fine.l2[ok] <= fine.epsilon[ok] + 1e-5)
    with torch.no_grad():
        assert torch.all(model(fine.x_adv[ok]).argmax(1) != model(x[ok]).argmax(1))
    with pytest.raises(ValueError, match="grid"):
        attacks.attack(model, x, method="fgm", bounds=(-10.0, 10.0), epsilons=0.5, refine=3)


def test_refined_bim_batched_equals_one_at_a_time():
    model, x = _mlp(), torch.rand(9, 8)
    kw = dict(method="bim", bounds=(0.0, 1.0), epsilons=[0.05, 0.2, 0.8, 3.2], refine=4, steps=5)
    a = attacks.attack(model, x, **kw)
    b = attacks.attack(model, x, batch_size=1, **kw)
    assert torch.equal(a.success, b.success)
    assert torch.allclose(a.epsilon, b.epsilon)
    assert torch.allclose(a.x_adv, b.x_adv, atol=1e-6)
    grid = attacks.attack(model, x, method="bim", bounds=(0.0, 1.0), epsilons=[0.05, 0.2, 0.8, 3.2], steps=5)
    assert torch.all(a.epsilon[a.success] <= grid.epsilon[a.success])


def test_attack_batch_size_does_not_change_results():
    model, x = _mlp(), torch.rand(23, 8)
    a = attacks.attack(model, x, method="pgd-train", bounds=(0.0, 1.0), epsilons=0.5, steps=5)
    b = attacks.attack(model, x, method="pgd-train", bounds=(0.0, 1.0), epsilons=0.5, steps=5, batch_size=4)
    assert torch.allclose(a.x_adv, b.x_adv, atol=1e-6)
    assert torch.equal(a.success, b.success)


def test_unknown_attack_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown attack"):
        attacks.attack(_mlp(), torch.rand(2, 8), method="nope", bounds=(0.0, 1.0))


# --- batch independence: each example gets the same answer alone as in any batch --------------------------------

def _cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()


_METHODS = {
    "fgm": dict(epsilons=[0.1, 0.3, 0.9, 2.7]),
    "bim": dict(epsilons=[0.1, 0.3, 0.9, 2.7], steps=5),
    "bim-refine": dict(method="bim", epsilons=[0.1, 0.3, 0.9, 2.7], steps=5, refine=3),
    "pgd": dict(epsilons=0.8, steps=5),  # random start on, drawn per example
    "cw": dict(steps=15, binary_search_steps=2, stepsize=0.05, initial_const=1.0),
    "fmn": dict(steps=10),
    "ddn": dict(steps=10),
    "gradient": dict(),
    "pgd-train": dict(epsilons=0.8, steps=5, step_size=0.3),
    "apgd": dict(epsilons=0.8, steps=10, loss="ce"),
    "apgd-dlr": dict(method="apgd", epsilons=0.8, steps=10, loss="dlr"),
}


@pytest.mark.parametrize("name", list(_METHODS))
def test_every_method_gives_each_example_its_own_answer_in_any_batch(name):
    """Batched == one at a time == shuffled, for every method: same success flags, distances within rtol 1e-4
    (float32 convolution / matmul kernels may differ in the last bits between batch sizes)."""
    kw = dict(_METHODS[name])
    method = kw.pop("method", name)
    model = _cnn()
    x = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    batched = attacks.attack(model, x, method=method, bounds=(0.0, 1.0), **kw)
    alone = attacks.attack(model, x, method=method, bounds=(0.0, 1.0), batch_size=1, **kw)
    perm = torch.tensor([4, 1, 5, 0, 3, 2])
    shuffled = attacks.attack(model, x[perm], method=method, bounds=(0.0, 1.0), **kw)
    assert batched.success.any(), "the test needs some successful attacks to compare"
    for other, idx in ((alone, torch.arange(6)), (shuffled, torch.argsort(perm))):
        assert torch.equal(batched.success, other.success[idx])
        assert torch.allclose(batched.l2, other.l2[idx], rtol=1e-4, atol=1e-6)
        assert torch.allclose(batched.linf, other.linf[idx], rtol=1e-4, atol=1e-6)
        if batched.epsilon is not None:
            assert torch.allclose(batched.epsilon, other.epsilon[idx], rtol=1e-4, atol=1e-6)


def test_cw_distance_does_not_depend_on_batch_mates():
    model = _cnn(1)
    g = torch.Generator().manual_seed(5)
    a, b, c = torch.rand(1, 1, 6, 6, generator=g), torch.rand(1, 1, 6, 6, generator=g), torch.rand(1, 1, 6, 6,
                                                                                                   generator=g) * 0.1
    opts = dict(steps=20, binary_search_steps=2, stepsize=0.05, initial_const=1.0)
    ab = attacks.attack(model, torch.cat([a, b]), method="cw", bounds=(0.0, 1.0), **opts)
    ac = attacks.attack(model, torch.cat([a, c]), method="cw", bounds=(0.0, 1.0), **opts)
    assert ab.success[0] and ac.success[0]
    assert torch.allclose(ab.l2[0], ac.l2[0], rtol=1e-4)
    assert torch.allclose(ab.x_adv[0], ac.x_adv[0], atol=1e-5)
    # the hazard is real: Foolbox's own default (abort_early=True) gives `a` a different distance in each batch
    from rilib.attacks.foolbox_attacks import import_foolbox

    fb = import_foolbox()
    cw = fb.attacks.L2CarliniWagnerAttack(abort_early=True, **opts)
    fmodel = attacks.fool_model(model, bounds=(0.0, 1.0))
    dist = []
    for batch in (torch.cat([a, b]), torch.cat([a, c])):
        y = model(batch).argmax(1)
        adv, _, _ = cw(fmodel, batch, fb.criteria.Misclassification(y), epsilons=None)
        dist.append(float((adv[0] - a[0]).norm()))
    assert not math.isclose(dist[0], dist[1], rel_tol=1e-3)


def test_cw_refuses_abort_early():
    with pytest.raises(ValueError, match="batch-mates"):
        attacks.attack(_cnn(), torch.rand(2, 1, 6, 6), method="cw", bounds=(0.0, 1.0), steps=2, abort_early=True)


def test_pgd_random_start_is_reproducible_and_seeded():
    model, x = _cnn(), torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    kw = dict(method="pgd", bounds=(0.0, 1.0), epsilons=0.5, steps=1)
    a, b = attacks.attack(model, x, **kw), attacks.attack(model, x, **kw)
    c = attacks.attack(model, x, seed=1, **kw)
    assert torch.equal(a.x_adv, b.x_adv)
    assert not torch.equal(a.x_adv, c.x_adv)
    assert torch.all((a.x_adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5)


# --- the caller's model and inputs ---------------------------------------------------------------------------------

def _dropout_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))


@pytest.mark.parametrize("method,kw", [("pgd-train", dict(epsilons=0.3, steps=3)), ("fgm", dict(epsilons=0.3)),
                                       ("cw", dict(steps=3, binary_search_steps=1)), ("gradient", dict())])
def test_attack_runs_in_eval_mode_and_restores_the_callers_modes(method, kw):
    model = _dropout_model().train()
    model[3].eval()  # mixed modes must come back as they were
    modes = [m.training for m in model.modules()]
    x = torch.rand(5, 8, generator=torch.Generator().manual_seed(0))
    res = attacks.attack(model, x, method=method, bounds=(0.0, 1.0), **kw)
    assert [m.training for m in model.modules()] == modes
    ref = attacks.attack(_dropout_model().eval(), x, method=method, bounds=(0.0, 1.0), **kw)
    assert torch.equal(res.success, ref.success)  # dropout was off during the attack
    assert torch.allclose(res.l2, ref.l2)


@pytest.mark.parametrize("name", list(_METHODS))
def test_attack_takes_no_parameter_gradients_and_gives_the_same_answer(name):
    """Parameters out of autograd during the attack: every ``requires_grad`` flag comes back as it was (a frozen one
    stays frozen), no ``.grad`` is written, and the result equals the attack on a model whose parameters stay in
    autograd all along (Foolbox's ``loss.backward()`` then also fills their ``.grad``), bit for bit."""
    kw = dict(_METHODS[name])
    method = kw.pop("method", name)
    model = _cnn()
    model[0].bias.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    x = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    res = attacks.attack(model, x, method=method, bounds=(0.0, 1.0), **kw)
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    import contextlib
    from unittest import mock

    with mock.patch.object(attacks, "frozen", lambda m: contextlib.nullcontext(m)):
        ref = attacks.attack(model, x, method=method, bounds=(0.0, 1.0), **kw)
    assert torch.equal(res.x_adv, ref.x_adv) and torch.equal(res.success, ref.success)


def test_fool_model_evaluates_in_eval_mode_and_leaves_the_callers_mode():
    model = _dropout_model().train()
    fmodel = attacks.fool_model(model, bounds=(0.0, 1.0))
    assert model.training and all(m.training for m in model.modules())
    x = torch.rand(5, 8)
    with torch.no_grad():
        out, ref = fmodel(x), _dropout_model().eval()(x)
    assert torch.allclose(out, ref)
    assert model.training and all(m.training for m in model.modules())


def test_inputs_outside_bounds_are_a_clear_error():
    x = torch.rand(3, 8) * 255
    with pytest.raises(ValueError, match=r"outside bounds=\(0, 1\).*Pass the data's bounds"):
        attacks.attack(_mlp(), x, method="cw", bounds=(0.0, 1.0), steps=2)


def test_importing_attacks_does_not_import_foolbox():
    import subprocess
    import sys

    code = ("import sys, rilib.attacks, rilib.train; from rilib.attacks import attack, AttackResult, pgd, project, "
            "fool_model, FOOLBOX_METHODS; assert 'foolbox' not in sys.modules, 'foolbox imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------- Wang et al.'s boundary search
def test_apgd_is_at_least_as_strong_as_foolbox_pgd_at_the_same_radius():
    """The ART AutoPGD against Foolbox's PGD at the same ε on the same points: it stays inside the ε-ball and the
    bounds, and (with its adaptive step and momentum) fools at least as many points."""
    model = _cnn()
    x = torch.rand(24, 1, 6, 6, generator=torch.Generator().manual_seed(5))
    for eps in (0.3, 0.8):
        a = attacks.attack(model, x, method="apgd", bounds=(0.0, 1.0), epsilons=eps, steps=50)
        p = attacks.attack(model, x, method="pgd", bounds=(0.0, 1.0), epsilons=eps, steps=50)
        assert float((a.x_adv - x).flatten(1).norm(dim=1).max()) <= eps * (1 + 1e-4)
        assert float(a.x_adv.min()) >= 0 and float(a.x_adv.max()) <= 1
        assert int(a.success.sum()) >= int(p.success.sum())


def _linear_two_class():
    """z = (x₁, x₂, −10): the third class never wins (APGD-DLR needs three logits)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 3)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        model[1].bias.copy_(torch.tensor([0.0, 0.0, -10.0]))
    return model


def test_boundary_search_stages_only_move_closer_and_bisection_reaches_the_boundary():
    """A linear model z = (x₁, x₂, −10): the boundary is x₁ = x₂, the distance of x to it |x₁ − x₂|/√2. Each
    stage keeps the closer point; CW and the bisection end within 2 % of the exact distance."""
    from rilib.attacks.boundary import boundary_search

    model = _linear_two_class()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(10, 2, generator=g) * 0.8 + 0.1
    exact = (x[:, 0] - x[:, 1]).abs() / math.sqrt(2)
    r = boundary_search(model, x, bounds=(0.0, 1.0), ladder=[0.1, 0.3, 0.6, 1.2], pgd_steps=20,
                        cw={"eps": 2.0, "steps": 100, "stepsize": 0.01, "binary_search_steps": 5},
                        apgd={"eps": 1.2, "steps": 20}, bisect=20)
    assert list(r.l2) == ["pgd", "cw", "apgd", "bisect"]
    assert bool(r.success.all())
    order = [r.l2[s] for s in r.l2]
    for a, b in zip(order, order[1:]):
        assert bool((b <= a + 1e-7).all())
    assert bool((order[0] >= exact - 1e-5).all())  # nothing is closer than the boundary
    torch.testing.assert_close(r.l2["bisect"], exact, rtol=0.02, atol=1e-4)
    torch.testing.assert_close(r.l2["cw"], exact, rtol=0.02, atol=1e-3)
    assert bool((model(r.x_boundary).argmax(1) != model(x).argmax(1)).all())
    assert bool((model(r.x_pgd).argmax(1) != model(x).argmax(1)).all())
    assert set(r.seconds) == set(r.l2) and all(t >= 0 for t in r.seconds.values())


def test_boundary_search_counts_failures_and_keeps_the_last_rung():
    """Points farther than every stage can reach: success False, distance +inf, the point = the PGD output at the
    largest rung (the paper's fallback)."""
    from rilib.attacks.boundary import boundary_search

    model = _linear_two_class()
    x = torch.tensor([[0.9, 0.1], [0.52, 0.5]])
    r = boundary_search(model, x, bounds=(0.0, 1.0), ladder=[0.05, 0.1], pgd_steps=10)
    assert r.success.tolist() == [False, True]
    assert math.isinf(float(r.l2["pgd"][0])) and float(r.l2["pgd"][1]) <= 0.05 + 1e-6
    assert 0.09 < float((r.x_boundary[0] - x[0]).norm()) <= 0.1 + 1e-6


def test_boundary_search_batched_equals_one_at_a_time():
    from rilib.attacks.boundary import boundary_search

    model = _cnn()
    x = torch.rand(5, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    kw = dict(bounds=(0.0, 1.0), ladder=[0.2, 0.5, 1.0], pgd_steps=10,
              cw={"eps": 3.0, "steps": 20, "stepsize": 0.05, "binary_search_steps": 2}, apgd={"eps": 1.0, "steps": 10},
              bisect=8)
    whole = boundary_search(model, x, **kw)
    alone = [boundary_search(model, x[i:i + 1], **kw) for i in range(5)]
    for s in whole.l2:
        torch.testing.assert_close(whole.l2[s], torch.cat([a.l2[s] for a in alone]), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(whole.x_boundary, torch.cat([a.x_boundary for a in alone]), rtol=1e-4, atol=1e-5)
