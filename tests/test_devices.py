"""Every kernel on every available device: training (each regime), the geometry kernel, the input-gradient
helper, the attacks, the attributions and the localisation metrics, parametrised over the devices this machine has
(``cpu`` always, ``cuda`` when torch sees one; the ``cuda`` cases are skipped, not absent, elsewhere).

Each case runs the kernel on the device in float64 and compares it with the same computation on the CPU: results
land on the device asked for and agree to float64 round-off (deterministic kernels), or — for kernels that draw
random numbers (random starts, SmoothGrad noise), whose generators differ between devices — are valid answers of
the same kind (sizes, adversariality, finite values)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rilib import attacks, attribution, gradients
from rilib.evaluation import localisation
from rilib.geometry import geometry
from rilib.train import Adversarial, CrossEntropy, DoubleBackprop, InterpretationReg, JacobianReg, fit

DEVICES = [pytest.param("cpu", id="cpu"),
           pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                     reason="needs CUDA"))]


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)).double().eval()


def _x(n: int = 6) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def _on(t: torch.Tensor, device: str) -> bool:
    return t.device.type == torch.device(device).type


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("regime", [CrossEntropy(), DoubleBackprop(lam=0.1), JacobianReg(lam=0.01, projections=1),
                                    InterpretationReg(lam=0.1), Adversarial(eps=0.5, steps=2, step_size=0.5)],
                         ids=lambda r: type(r).__name__)
def test_training_runs_each_regime_on_the_device(device, regime):
    x, y = _x(12).float(), torch.arange(12) % 3
    extras = (torch.rand_like(x),) if isinstance(regime, InterpretationReg) else ()
    model = _net().float()
    res = fit(model, x, y, regime, epochs=1, batch_size=6, seed=0, extras=extras, device=torch.device(device),
              progress=False)
    assert all(_on(p, device) for p in model.parameters())
    assert np.isfinite(res.train_loss).all()
    if device != "cpu" and not isinstance(regime, (Adversarial, JacobianReg)):  # no random draws in the step
        ref = _net().float()
        ref_res = fit(ref, x, y, regime, epochs=1, batch_size=6, seed=0, extras=extras, device=torch.device("cpu"),
                      progress=False)
        assert res.train_loss == pytest.approx(ref_res.train_loss, rel=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_geometry_and_input_gradients_match_the_cpu(device):
    model, x = _net(), _x()
    cpu = geometry(model, x, theorem3=True, batch_size=4)
    dev = geometry(model.to(device), x.to(device), theorem3=True, batch_size=4)
    assert _on(dev.rho_tilde, device)
    for name in ("alpha", "alpha_dagger", "rho_tilde", "beta", "rhs14", "rhs15", "rhs16"):
        torch.testing.assert_close(getattr(dev, name).cpu(), getattr(cpu, name), rtol=1e-9, atol=1e-11)
    g = gradients.input_grad(model, x.to(device), "all")
    assert _on(g, device)
    torch.testing.assert_close(g.cpu(), gradients.input_grad(model.cpu(), x, "all"), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method,options", [("cw", {"steps": 30, "binary_search_steps": 2}), ("ddn", {"steps": 30}),
                                            ("fmn", {"steps": 30}), ("gradient", {}), ("bim", {"steps": 5}),
                                            ("fgm", {})])
def test_attacks_give_the_cpu_answer_on_the_device(device, method, options):
    model, x = _net(), _x()
    eps = None if method in ("cw", "ddn", "fmn", "gradient") else 0.5
    kw = dict(method=method, bounds=(0.0, 1.0), epsilons=eps, **options)
    cpu = attacks.attack(model, x, **kw)
    dev = attacks.attack(model.to(device), x.to(device), device=device, **kw)
    torch.testing.assert_close(dev.l2.cpu(), cpu.l2, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(dev.success.cpu(), cpu.success)


@pytest.mark.parametrize("device", DEVICES)
def test_random_start_pgd_finds_valid_adversarials_on_the_device(device):
    model, x = _net().to(device), _x().to(device)
    res = attacks.attack(model, x, method="pgd", bounds=(0.0, 1.0), epsilons=2.0, device=device, steps=20)
    d = (res.x_adv.to(x.device) - x).flatten(1).norm(dim=1)
    assert bool((d <= 2.0 + 1e-6).all())
    with torch.no_grad():
        flipped = model(res.x_adv.to(device)).argmax(1) != model(x).argmax(1)
    assert torch.equal(flipped.cpu(), res.success.cpu())


DETERMINISTIC = ["saliency", "input_x_gradient", "integrated_gradients", "deeplift", "loss_gradient",
                 "loss_input_x_gradient", "agi"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", DETERMINISTIC + ["smoothgrad", "big", "bsm"])
def test_attributions_on_the_device(device, method):
    model, x = _net(), _x()
    options = {}
    if method in ("big", "bsm"):
        options["boundary"] = (x + 0.1).clamp(0, 1)
    dev_opts = {k: v.to(device) for k, v in options.items()}
    dev = attribution.attribute(model.to(device), x.to(device), method=method, abs=False, **dev_opts)
    assert _on(dev, device) and dev.shape == (6, 1, 8, 8) and bool(torch.isfinite(dev).all())
    if method in DETERMINISTIC or method in ("big", "bsm"):
        cpu = attribution.attribute(model.cpu(), x, method=method, abs=False, **options)
        torch.testing.assert_close(dev.cpu(), cpu, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_localisation_metrics_read_maps_from_the_device(device):
    """The metrics are numpy on the CPU (a few array sums per map); they take maps where they were computed."""
    maps = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64) - 0.3
    boxes = np.array([[0, 0, 4, 4], [2, 2, 6, 6], [1, 3, 5, 8], [0, 0, 8, 8]])
    cpu = localisation.localisation_scores(maps, boxes)
    dev = localisation.localisation_scores(maps.to(device), boxes)
    for k in cpu:
        np.testing.assert_allclose(dev[k], cpu[k], rtol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_the_boundary_search_returns_boundary_points_on_the_device(device):
    from rilib.attacks.boundary import boundary_search

    model, x = _net(), _x()
    kw = dict(bounds=(0.0, 1.0), ladder=[0.5, 1.0, 2.0, 4.0], pgd_steps=10, cw=None, apgd=None, bisect=4,
              random_start=False)
    cpu = boundary_search(model, x, **kw)
    dev = boundary_search(model.to(device), x, device=device, **kw)
    torch.testing.assert_close(dev.x_boundary, cpu.x_boundary, rtol=1e-7, atol=1e-9)
    assert torch.equal(dev.success, cpu.success) and bool(dev.success.any())
