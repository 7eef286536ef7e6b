"""Tests of rilib.geometry: α, α†, ρ̃, β and the bounds of Etmann et al. (2019), Sections 2–3.

In the style of Captum's and zennit's tests: small random networks built here, float64, exact identities checked to
round-off, one hand-computed example, and batched results compared against naive per-example loops.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from rilib.geometry import Geometry, bias_names, bias_term, class_gradients, geometry

PER_EXAMPLE_FIELDS = [
    "logits", "pred", "j_star", "g", "g_dagger", "alpha", "alpha_dagger", "rho_tilde", "beta", "beta_dagger",
    "psi_dagger", "linear_dagger", "x_norm", "beta_term", "rhs14", "angle_term", "rhs15", "xi", "gamma",
    "xi_alignment", "xi_angle_term", "rhs16", "pred_xi",
]


# ------------------------------------------------------------------------------------------------------------------
# test networks
# ------------------------------------------------------------------------------------------------------------------
def _randomize_batchnorm(model: nn.Module) -> None:
    """Non-trivial running statistics and affine parameters, so that BatchNorm really is an affine map."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0.0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1.0, 0.3)
                m.bias.normal_(0.0, 0.3)


def make_mlp(seed: int, *, d_in: int = 12, hidden: int = 16, n_classes: int = 5, bias: bool = True) -> nn.Module:
    """(a) MLP with ReLU (and biases unless ``bias=False``: then it is (c), positively one-homogeneous)."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(d_in, hidden, bias=bias), nn.ReLU(),
        nn.Linear(hidden, hidden, bias=bias), nn.ReLU(),
        nn.Linear(hidden, n_classes, bias=bias),
    )
    if bias:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Linear):
                    m.bias.normal_(0.0, 0.3)
    return model.eval()


def make_cnn(seed: int, *, channels: int = 2, size: int = 8, width: int = 4, n_classes: int = 5, bias: bool = True
             ) -> nn.Module:
    """(b) conv+bias, BatchNorm2d (eval, random statistics), ReLU, MaxPool2d, conv, ReLU, linear head.

    With ``bias=False`` it is (c): no biases anywhere and the BatchNorm removed.
    """
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1, bias=bias)]
    if bias:
        layers.append(nn.BatchNorm2d(width))
    layers += [
        nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1, bias=bias), nn.ReLU(),
        nn.Flatten(), nn.Linear(2 * width * (size // 2) ** 2, n_classes, bias=bias),
    ]
    model = nn.Sequential(*layers)
    _randomize_batchnorm(model)
    return model.eval()


class ResidualNet(nn.Module):
    """A further member of the paper's class N: skip connection, leaky ReLU, BatchNorm1d, average pooling."""

    def __init__(self, d_in: int = 10, width: int = 12, n_classes: int = 4) -> None:
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.bn = nn.BatchNorm1d(width)
        self.block = nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.1), nn.Linear(width, width))
        self.pool = nn.AvgPool1d(2)
        self.head = nn.Linear(width // 2, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.inp(x)))
        h = torch.relu(h + self.block(h))
        return self.head(self.pool(h.unsqueeze(1)).squeeze(1))


def make_residual(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = ResidualNet()
    _randomize_batchnorm(model)
    return model.eval()


class LinearBinary(nn.Module):
    """(d) Ψ(x) = (<x, z> + b, −<x, z> − b): the linear (b = 0) / affine binary toy of Section 2.1."""

    def __init__(self, z: torch.Tensor, b: float = 0.0) -> None:
        super().__init__()
        self.z = nn.Parameter(z.clone())
        self.b = b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1) @ self.z.flatten() + self.b
        return torch.stack([s, -s], dim=1)


def _inputs(model_kind: str, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1000 + seed)
    shape = {"mlp": (12,), "cnn": (2, 8, 8), "res": (10,)}[model_kind]
    return torch.randn((n, *shape), generator=gen)


BUILDERS = {
    "mlp": lambda seed: make_mlp(seed),
    "cnn": lambda seed: make_cnn(seed),
    "res": lambda seed: make_residual(seed),
}


def naive_class_gradients(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example, per class: a fresh forward pass of one example and torch.autograd.grad of one logit."""
    logits, grads = [], []
    for i in range(x.shape[0]):
        xi = x[i : i + 1].detach().clone().requires_grad_(True)
        out = model(xi)[0]
        logits.append(out.detach())
        grads.append(torch.stack([torch.autograd.grad(out[c], xi, retain_graph=True)[0][0]
                                  for c in range(out.shape[0])]))
    return torch.stack(logits), torch.stack(grads)


def _flat_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.flatten(1) * b.flatten(1)).sum(1)


def _assert_geometry_equal(a: Geometry, b: Geometry, *, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    for name in PER_EXAMPLE_FIELDS:
        va, vb = getattr(a, name), getattr(b, name)
        assert (va is None) == (vb is None), name
        if va is not None:
            torch.testing.assert_close(va, vb, rtol=rtol, atol=atol, msg=lambda m, n=name: f"{n}: {m}")


# ------------------------------------------------------------------------------------------------------------------
# hand-checked values
# ------------------------------------------------------------------------------------------------------------------
def test_hand_checked_affine_three_class(float64):
    """Ψ(x) = Wx + b in R^2 with three classes, every quantity computed by hand.

    W = [(1, 0), (0, 1), (−1, 0)], b = (0, 0.5, 0), x = (3, 1): Ψ = (3, 1.5, −3), i* = 0, the ratios of eq. (9) are
    1.5/√2 (j = 1) and 6/2 (j = 2), so j* = 1 and ρ̃ = 1.5/√2; g = (1, 0), g† = (1, −1), β† = −0.5,
    ξ = x + β† g†/‖g†‖² = (2.75, 1.25), γ = g.
    """
    model = nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
        model.bias.copy_(torch.tensor([0.0, 0.5, 0.0]))
    x = torch.tensor([[3.0, 1.0]])
    geo = geometry(model, x, theorem3=True)
    r2, r10 = math.sqrt(2.0), math.sqrt(10.0)
    dist = math.sqrt(2.0 - r2)  # ‖ḡ† − ḡ‖ = ‖ḡ† − γ̄‖ = ‖(1/√2 − 1, −1/√2)‖
    expected = {
        "pred": 0, "j_star": 1, "pred_xi": 0,
        "rho_tilde": 1.5 / r2, "alpha": 3.0, "alpha_dagger": r2,
        "beta_dagger": -0.5, "psi_dagger": 1.5, "linear_dagger": 2.0, "x_norm": r10,
        "beta_term": 0.5 / r2, "rhs14": r2 + 0.5 / r2, "angle_term": r10 * dist,
        "rhs15": 3.0 + r10 * dist + 0.5 / r2,
        "xi_alignment": 2.75, "xi_angle_term": math.sqrt(2.75**2 + 1.25**2) * dist,
        "rhs16": 2.75 + math.sqrt(2.75**2 + 1.25**2) * dist,
    }
    for name, value in expected.items():
        assert getattr(geo, name).item() == pytest.approx(value, rel=1e-12, abs=1e-14), name
    torch.testing.assert_close(geo.logits, torch.tensor([[3.0, 1.5, -3.0]]))
    torch.testing.assert_close(geo.beta, torch.tensor([[0.0, 0.5, 0.0]]), rtol=0, atol=1e-15)
    torch.testing.assert_close(geo.g, torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(geo.g_dagger, torch.tensor([[1.0, -1.0]]))
    torch.testing.assert_close(geo.xi, torch.tensor([[2.75, 1.25]]))
    torch.testing.assert_close(geo.gamma, torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(bias_term(model, x), torch.tensor([[0.0, 0.5, 0.0]]), rtol=0, atol=1e-15)


def test_linear_binary_toy(float64):
    """Ψ(x) = (<x,z>, −<x,z>): α = α† = ρ̃ = |<x,z>|/‖z‖ = ‖x‖ |cos δ| (eq. 2), and every bound is tight."""
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(3, 4, generator=gen)
    x = torch.randn(16, 3, 4, generator=gen)
    geo = geometry(LinearBinary(z), x, theorem3=True)
    xf, zf = x.flatten(1), z.flatten()
    expected = (xf @ zf).abs() / zf.norm()
    cos_delta = (xf @ zf) / (xf.norm(dim=1) * zf.norm())
    torch.testing.assert_close(expected, xf.norm(dim=1) * cos_delta.abs())
    for name in ("alpha", "alpha_dagger", "rho_tilde", "rhs14", "rhs15", "rhs16", "xi_alignment"):
        torch.testing.assert_close(getattr(geo, name), expected, rtol=1e-12, atol=1e-12, msg=name)
    torch.testing.assert_close(geo.pred, (xf @ zf < 0).long())
    torch.testing.assert_close(geo.j_star, 1 - geo.pred)
    torch.testing.assert_close(geo.beta, torch.zeros(16, 2), rtol=0, atol=1e-12)
    torch.testing.assert_close(geo.angle_term, torch.zeros(16), rtol=0, atol=1e-12)
    torch.testing.assert_close(geo.xi, x)  # β† = 0: ξ = x
    # g† = 2 g and ḡ† = ḡ for this model
    torch.testing.assert_close(geo.g_dagger, 2 * geo.g)


def test_affine_binary_toy_eq4_eq5(float64):
    """Ψ(x) = (<x,z>+b, −<x,z>−b): ρ = |<x,z>+b|/‖z‖ ≤ α + |b|/‖z‖ (eq. 4) and ρ = α(ξ) (eq. 5)."""
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(6, generator=gen)
    b = 0.7
    x = torch.randn(20, 6, generator=gen)
    model = LinearBinary(z, b)
    geo = geometry(model, x, theorem3=True)
    rho = (x @ z + b).abs() / z.norm()
    torch.testing.assert_close(geo.rho_tilde, rho)
    torch.testing.assert_close(geo.beta_term, torch.full((20,), abs(b) / z.norm().item()))
    torch.testing.assert_close(geo.rhs14, geo.alpha + abs(b) / z.norm())  # eq. (4)
    assert bool((geo.rho_tilde <= geo.rhs14 + 1e-12).all())
    torch.testing.assert_close(geo.xi, x + b / z.norm() * z / z.norm())  # ξ of eq. (5)
    torch.testing.assert_close(geo.xi_alignment, rho)  # ρ(x) = α(ξ), eq. (5)
    torch.testing.assert_close(geo.rhs16, rho)
    # ρ̃ is the true distance to the decision boundary: the point x − sgn(Ψ†) ρ̃ z̄ lies on it
    sign = torch.where(geo.pred == 0, 1.0, -1.0)
    boundary = x - (sign * geo.rho_tilde).unsqueeze(1) * z / z.norm()
    torch.testing.assert_close(boundary @ z + b, torch.zeros(20), rtol=0, atol=1e-12)
    torch.testing.assert_close(bias_term(model, x), torch.zeros(20, 2))  # b is an attribute, not a '*bias' parameter


# ------------------------------------------------------------------------------------------------------------------
# gradients
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["mlp", "cnn", "res"])
def test_class_gradients_matches_naive_loop(float64, kind, seed):
    model = BUILDERS[kind](seed)
    x = _inputs(kind, 6, seed)
    logits, grads = class_gradients(model, x)
    ref_logits, ref_grads = naive_class_gradients(model, x)
    assert grads.shape == (6, logits.shape[1], *x.shape[1:])
    assert not logits.requires_grad and not grads.requires_grad
    torch.testing.assert_close(logits, ref_logits, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grads, ref_grads, rtol=1e-10, atol=1e-12)


def test_class_gradients_class_subsets(float64):
    model = make_cnn(0)
    x = _inputs("cnn", 5, 0)
    logits, full = class_gradients(model, x)
    _, some = class_gradients(model, x, classes=[3, 1])
    torch.testing.assert_close(some, full[:, [3, 1]])
    per_example = torch.tensor([[0, 4], [1, 3], [2, 2], [3, 1], [4, 0]])
    _, picked = class_gradients(model, x, classes=per_example)
    torch.testing.assert_close(picked, full[torch.arange(5).unsqueeze(1), per_example])
    _, single = class_gradients(model, x, classes=2)
    torch.testing.assert_close(single, full[:, 2:3])
    with pytest.raises(ValueError):
        class_gradients(model, x, classes=[5])
    with pytest.raises(ValueError):
        class_gradients(model, x, classes=torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(TypeError):
        class_gradients(model, x, classes=torch.tensor([0.5]))


def test_class_gradients_create_graph_second_order(float64):
    """create_graph=True: a function of the saliency maps can be differentiated w.r.t. the parameters."""
    model = make_mlp(1)
    x = _inputs("mlp", 4, 1)
    logits, grads = class_gradients(model, x, create_graph=True)
    assert logits.requires_grad and grads.requires_grad
    penalty = grads.pow(2).sum() + logits.sum()
    first = model[1].weight
    (d_weight,) = torch.autograd.grad(penalty, first)
    assert d_weight.abs().sum() > 0

    # compare against finite differences (gradcheck) of the same function of the first layer's weight
    def penalty_of(weight: torch.Tensor) -> torch.Tensor:
        class Wrapped(nn.Module):
            def forward(self, inp: torch.Tensor) -> torch.Tensor:
                return functional_call(model, {"1.weight": weight}, (inp,))

        lg, gr = class_gradients(Wrapped(), x, create_graph=True)
        return gr.pow(2).sum() + lg.sum()

    w0 = first.detach().clone().requires_grad_(True)
    torch.testing.assert_close(torch.autograd.grad(penalty_of(w0), w0)[0], d_weight)
    assert torch.autograd.gradcheck(penalty_of, (w0,), eps=1e-6, atol=1e-6)


def test_class_gradients_keeps_graph_of_x(float64):
    """A non-leaf input that requires grad is used as is (double backprop through the input pipeline)."""
    model = make_mlp(2)
    base = _inputs("mlp", 3, 2).requires_grad_(True)
    x = 2.0 * base
    _, grads = class_gradients(model, x, create_graph=True)
    _, ref = class_gradients(model, x.detach())
    torch.testing.assert_close(grads.detach(), ref)
    (dbase,) = torch.autograd.grad(grads[:, 0].pow(2).sum() + x.sum(), base)
    assert dbase.shape == base.shape


# ------------------------------------------------------------------------------------------------------------------
# Theorem 1 and Lemma 2
# ------------------------------------------------------------------------------------------------------------------
def test_bias_names(float64):
    assert bias_names(make_cnn(0)) == ["0.bias", "1.bias", "4.bias", "7.bias", "1.running_mean"]
    assert bias_names(make_cnn(0, bias=False)) == []
    assert bias_names(make_residual(0)) == [
        "inp.bias", "bn.bias", "block.0.bias", "block.2.bias", "head.bias", "bn.running_mean",
    ]


@pytest.mark.parametrize("kind", ["mlp", "cnn", "res"])
def test_theorem1_homogeneous_decomposition_exact(float64, kind, seed):
    """Eq. (13): Ψ^i(x) = <x, ∇ₓΨ^i(x)> + <b, ∇_b Ψ^i(x)> for every class, with b from the parameters."""
    model = BUILDERS[kind](seed)
    x = _inputs(kind, 8, seed)
    logits, grads = class_gradients(model, x)
    linear = torch.einsum("bc...,b...->bc", grads, x)
    beta = bias_term(model, x)
    assert beta.shape == logits.shape
    assert beta.abs().max() > 1e-2  # the bias term is really there
    scale = logits.abs().max().item()
    torch.testing.assert_close(linear + beta, logits, rtol=1e-8, atol=1e-8 * scale)
    torch.testing.assert_close(bias_term(model, x, method="forward"), beta, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(geometry(model, x).beta, beta, rtol=1e-8, atol=1e-8 * scale)


def test_bias_term_running_mean_counts(float64):
    """Without the BatchNorm running means in b, Theorem 1 fails; with them it holds (the note after eq. 13)."""
    model = make_cnn(5)
    x = _inputs("cnn", 4, 5)
    logits, grads = class_gradients(model, x)
    linear = torch.einsum("bc...,b...->bc", grads, x)
    without = bias_term(model, x, names=[n for n in bias_names(model) if not n.endswith("running_mean")])
    assert (linear + without - logits).abs().max() > 1e-3
    torch.testing.assert_close(linear + bias_term(model, x), logits, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="unknown"):
        bias_term(model, x, names=["nope.bias"])
    with pytest.raises(ValueError, match="method"):
        bias_term(model, x, method="sideways")


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_lemma2_bias_free_nets(float64, kind, seed):
    """Eq. (12): for positively one-homogeneous logits (ReLU, no biases) ρ̃ = α† and β = 0."""
    model = make_mlp(seed, bias=False) if kind == "mlp" else make_cnn(seed, bias=False)
    x = _inputs(kind, 10, seed)
    geo = geometry(model, x, theorem3=True)
    torch.testing.assert_close(geo.rho_tilde, geo.alpha_dagger, rtol=1e-8, atol=0)
    scale = geo.logits.abs().max().item()
    torch.testing.assert_close(geo.beta, torch.zeros_like(geo.beta), rtol=0, atol=1e-10 * scale)
    torch.testing.assert_close(bias_term(model, x), torch.zeros_like(geo.beta), rtol=0, atol=0)
    torch.testing.assert_close(geo.xi, x, rtol=0, atol=1e-10)  # β† = 0 ⇒ ξ = x
    # homogeneity itself: Ψ(a x) = a Ψ(x)
    with torch.no_grad():
        torch.testing.assert_close(model(3.0 * x), 3.0 * model(x))


# ------------------------------------------------------------------------------------------------------------------
# Theorems 2 and 3 and the definitions
# ------------------------------------------------------------------------------------------------------------------
def _check_definitions_and_bounds(model: nn.Module, x: torch.Tensor, *, naive: bool = True) -> Geometry:
    """Check geometry() against its definitions (naive loops), the proofs' identities and the bounds."""
    geo = geometry(model, x, theorem3=True)
    n = x.shape[0]
    rows = torch.arange(n)
    eps = 1e-12  # geometry()'s default guard: 1/‖v‖ is computed as 1/max(‖v‖, eps) (matters only for dead units)
    pred = geo.pred
    if naive:
        logits, grads = naive_class_gradients(model, x)
        gf = grads.flatten(2)
        xf = x.flatten(1)
        # definitions: eq. (6), (7), (9), (11), computed naively
        torch.testing.assert_close(pred, logits.argmax(1))
        g = gf[rows, pred]
        torch.testing.assert_close(geo.g.flatten(1), g)
        ratios = (logits[rows, pred].unsqueeze(1) - logits) / (g.unsqueeze(1) - gf).norm(dim=2).clamp_min(eps)
        ratios[rows, pred] = math.inf
        torch.testing.assert_close(geo.rho_tilde, ratios.min(1).values)
        torch.testing.assert_close(geo.j_star, ratios.argmin(1))
        torch.testing.assert_close(geo.alpha, (xf * g).sum(1).abs() / g.norm(dim=1).clamp_min(eps))
        g_dag = g - gf[rows, geo.j_star]
        torch.testing.assert_close(geo.alpha_dagger, (xf * g_dag).sum(1).abs() / g_dag.norm(dim=1).clamp_min(eps))
        torch.testing.assert_close(geo.x_norm, xf.norm(dim=1))
        # γ = ∇Ψ^{i*}(ξ) with i* the class predicted at x
        _, grads_xi = naive_class_gradients(model, geo.xi)
        torch.testing.assert_close(geo.gamma, grads_xi[rows, pred])
    # the identities used in the proofs of Theorems 2 and 3
    torch.testing.assert_close(geo.psi_dagger, geo.linear_dagger + geo.beta_dagger)
    gd_norm = geo.g_dagger.flatten(1).norm(dim=1)
    ok = gd_norm > eps  # g† = 0 (dead units) means ρ̃ = ∞, reported as margin / eps; Theorem 3 is void there
    gd_norm = gd_norm.clamp_min(eps)
    torch.testing.assert_close(geo.rho_tilde, geo.psi_dagger / gd_norm)
    torch.testing.assert_close(geo.rho_tilde, (geo.linear_dagger / gd_norm + geo.beta_dagger / gd_norm).abs())
    torch.testing.assert_close(geo.rho_tilde[ok], (_flat_dot(geo.xi, geo.g_dagger) / gd_norm)[ok])  # ρ̃ = <ξ, ḡ†>
    # The bound terms against their definitions, with β† taken from the *parameters* (bias_term, Theorem 1), not
    # from the kernel's remainder Ψ − ⟨x, ∇Ψ⟩: with the remainder, (14)–(16) would hold for any differentiable model
    # (triangle / Cauchy–Schwarz), so they would test nothing. With the bias term they hold only if Theorem 1 does,
    # and a wrong α†, angle term, ξ or γ in the kernel would show up as a mismatch below.
    beta_b = bias_term(model, x)
    bd = beta_b[rows, pred] - beta_b[rows, geo.j_star]
    g_bar = geo.g.flatten(1) / geo.g.flatten(1).norm(dim=1, keepdim=True).clamp_min(eps)
    gd_bar = geo.g_dagger.flatten(1) / gd_norm.unsqueeze(1)
    xf = x.flatten(1)
    rhs14 = (xf * gd_bar).sum(1).abs() + bd.abs() / gd_norm
    rhs15 = (xf * g_bar).sum(1).abs() + xf.norm(dim=1) * (gd_bar - g_bar).norm(dim=1) + bd.abs() / gd_norm
    xi = xf + (bd / gd_norm).unsqueeze(1) * gd_bar
    _, grads_at_xi = naive_class_gradients(model, xi.view_as(x)) if naive else class_gradients(model, xi.view_as(x))
    gamma = grads_at_xi[rows, pred].flatten(1)
    gamma_bar = gamma / gamma.norm(dim=1, keepdim=True).clamp_min(eps)
    rhs16 = (xi * gamma_bar).sum(1).abs() + xi.norm(dim=1) * (gd_bar - gamma_bar).norm(dim=1)
    torch.testing.assert_close(geo.rhs14, rhs14)
    torch.testing.assert_close(geo.rhs15, rhs15)
    torch.testing.assert_close(geo.rhs16[ok], rhs16[ok])
    # Theorem 2, eqs. (14) and (15); Theorem 3, eq. (16); pointwise, up to round-off, on the independent terms
    tol = 1e-10 * (1.0 + rhs15.abs())
    assert bool((geo.rho_tilde >= 0).all())
    assert bool((geo.rho_tilde <= rhs14 + tol).all())
    assert bool((geo.rho_tilde <= rhs15 + tol).all())
    assert bool((geo.rho_tilde <= rhs16 + 1e-10 * (1.0 + rhs16.abs()))[ok].all())
    # where F(ξ) = F(x) the first term of (16) is the alignment α(ξ)
    same = (geo.pred_xi == geo.pred) & ok
    if bool(same.any()):
        torch.testing.assert_close(geo.xi_alignment[same], geometry(model, geo.xi[same]).alpha)
    return geo


@pytest.mark.parametrize("kind", ["mlp", "cnn", "res"])
def test_theorems_2_and_3_pointwise(float64, kind, seed):
    geo = _check_definitions_and_bounds(BUILDERS[kind](seed), _inputs(kind, 12, seed))
    assert bool((geo.beta_term > 0).all())  # the biased nets really have a locally constant term
    assert bool((geo.g_dagger.flatten(1).norm(dim=1) > 1e-6).all())  # and no example is degenerate


def test_two_logit_network(float64):
    """C = 2 works for non-linear nets too (j* is then the other class)."""
    model = make_mlp(7, n_classes=2)
    geo = _check_definitions_and_bounds(model, _inputs("mlp", 9, 7))
    torch.testing.assert_close(geo.j_star, 1 - geo.pred)


def test_zero_gradients_are_guarded(float64):
    """Constant logits: every gradient is 0; the eps guard gives finite numbers instead of nan / inf."""
    model = nn.Linear(4, 3)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([1.0, 0.0, -1.0]))
    geo = geometry(model, torch.randn(5, 4), theorem3=True, eps=1e-12)
    for name in ("alpha", "alpha_dagger", "rho_tilde", "rhs14", "rhs15", "rhs16", "beta_term", "angle_term"):
        assert bool(torch.isfinite(getattr(geo, name)).all()), name
    torch.testing.assert_close(geo.alpha, torch.zeros(5))
    torch.testing.assert_close(geo.rho_tilde, torch.full((5,), 1.0 / 1e-12))
    with pytest.raises(ValueError, match="2 classes"):
        geometry(nn.Linear(4, 1), torch.randn(2, 4))


# ------------------------------------------------------------------------------------------------------------------
# batching
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_batched_equals_one_at_a_time(float64, kind):
    model = BUILDERS[kind](3)
    x = _inputs(kind, 7, 3)
    batched = geometry(model, x, theorem3=True)
    singles = [geometry(model, x[i : i + 1], theorem3=True) for i in range(7)]
    for name in PER_EXAMPLE_FIELDS:
        stacked = torch.cat([getattr(s, name) for s in singles])
        torch.testing.assert_close(getattr(batched, name), stacked, rtol=1e-10, atol=1e-12,
                                   msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_independent_of_batch_size(float64, kind):
    model = BUILDERS[kind](4)
    x = _inputs(kind, 20, 4)
    _assert_geometry_equal(geometry(model, x, theorem3=True, batch_size=3),
                           geometry(model, x, theorem3=True, batch_size=64))


def test_field_shapes_to_numpy_and_keep_vectors(float64):
    model = make_cnn(0)
    x = _inputs("cnn", 6, 0)
    geo = geometry(model, x, theorem3=True, batch_size=4)
    assert len(geo) == 6
    assert geo.logits.shape == geo.beta.shape == (6, 5)
    for name in ("g", "g_dagger", "xi", "gamma"):
        assert getattr(geo, name).shape == x.shape
    for name in ("pred", "j_star", "pred_xi"):
        assert getattr(geo, name).dtype == torch.int64
    arrays = geo.to_numpy()
    assert set(arrays) == set(PER_EXAMPLE_FIELDS) - {"g", "g_dagger", "xi", "gamma"}
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    assert arrays["rho_tilde"].shape == (6,) and arrays["beta"].shape == (6, 5)
    assert set(geo.to_numpy(vectors=True)) == set(PER_EXAMPLE_FIELDS)
    np.testing.assert_array_equal(arrays["rhs16"], geo.rhs16.numpy())
    # without Theorem 3 its fields are None and left out; keep_vectors=False drops the input-shaped fields only
    lean = geometry(model, x, keep_vectors=False)
    assert lean.g is None and lean.g_dagger is None and lean.xi is None and lean.rhs16 is None
    assert "rhs16" not in lean.to_numpy(vectors=True) and "g" not in lean.to_numpy(vectors=True)
    torch.testing.assert_close(lean.rhs15, geo.rhs15)
    with pytest.raises(ValueError):
        geometry(model, x[:0])
    with pytest.raises(ValueError):
        geometry(model, x, batch_size=0)


def test_no_side_effects_and_no_grad_context(float64):
    """geometry() works inside torch.no_grad(), leaves no .grad on the parameters and does not change the model."""
    model = make_cnn(2)
    x = _inputs("cnn", 5, 2)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    ref = geometry(model, x, theorem3=True)
    with torch.no_grad():
        inside = geometry(model, x, theorem3=True)
        beta = bias_term(model, x)
    _assert_geometry_equal(ref, inside, rtol=0, atol=0)
    torch.testing.assert_close(beta, ref.beta, rtol=1e-8, atol=1e-10)
    assert all(p.grad is None for p in model.parameters())
    assert not model.training
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert not model._forward_hooks and not model[1]._forward_hooks  # bias_term's hooks are removed again
    assert not x.requires_grad


def test_training_mode_batchnorm_raises(float64):
    model = make_cnn(0).train()
    x = _inputs("cnn", 4, 0)
    with pytest.raises(ValueError, match="training mode"):
        class_gradients(model, x)
    with pytest.raises(ValueError, match="training mode"):
        geometry(model, x)
    with pytest.raises(ValueError, match="training mode"):
        bias_term(model, x)
    # BatchNorm without running statistics uses batch statistics even in eval mode
    no_stats = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, track_running_stats=False), nn.Linear(4, 2)).eval()
    with pytest.raises(ValueError, match="running statistics"):
        class_gradients(no_stats, torch.randn(5, 3))
    # a training-mode model without BatchNorm is fine (examples do not interact); geometry() warns
    class_gradients(make_mlp(0).train(), _inputs("mlp", 3, 0))
    dropout_net = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)).train()
    with pytest.warns(UserWarning, match="dropout"):
        geometry(dropout_net, _inputs("mlp", 3, 0))


def test_float32_default_dtype_follows_input():
    model = make_cnn(0)
    x = _inputs("cnn", 4, 0)
    geo = geometry(model, x, theorem3=True)
    assert geo.rho_tilde.dtype == torch.float32 and geo.xi.dtype == torch.float32
    assert bool((geo.rho_tilde <= geo.rhs14 * (1 + 1e-4) + 1e-5).all())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(float64):
    model = make_cnn(0)
    x = _inputs("cnn", 9, 0)
    cpu = geometry(model, x, theorem3=True, batch_size=4)
    cuda = geometry(model.cuda(), x.cuda(), theorem3=True, batch_size=4)
    assert cuda.rho_tilde.device.type == "cuda" and cuda.xi.device.type == "cuda"
    for name in PER_EXAMPLE_FIELDS:
        torch.testing.assert_close(getattr(cuda, name).cpu(), getattr(cpu, name), rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(bias_term(model, x.cuda()).cpu(), bias_term(model.cpu(), x), rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------------------------------------------------------
# extended
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.extended
@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("seed_", range(12))
def test_extended_random_nets(float64, n_classes, seed_):
    """More seeds and sizes: Theorem 1, Lemma 2, Theorems 2/3, batching, on MLPs and CNNs (inputs in [0, 1])."""
    for size, width, naive in ((8, 4, True), (12, 8, False)):
        model = make_cnn(seed_, size=size, width=width, channels=3, n_classes=n_classes)
        gen = torch.Generator().manual_seed(seed_)
        x = torch.rand((12, 3, size, size), generator=gen)
        logits, grads = class_gradients(model, x)
        linear = torch.einsum("bc...,b...->bc", grads, x)
        torch.testing.assert_close(linear + bias_term(model, x), logits, rtol=1e-8, atol=1e-8 * logits.abs().max())
        torch.testing.assert_close(bias_term(model, x, method="forward"), bias_term(model, x))
        _check_definitions_and_bounds(model, x, naive=naive)
        _assert_geometry_equal(geometry(model, x, theorem3=True, batch_size=5),
                               geometry(model, x, theorem3=True, batch_size=100))
        free = make_cnn(seed_, size=size, width=width, channels=3, n_classes=n_classes, bias=False)
        geo = geometry(free, x)
        torch.testing.assert_close(geo.rho_tilde, geo.alpha_dagger, rtol=1e-8, atol=0)
    for hidden in (8, 64):
        x = _inputs("mlp", 25, seed_)
        _check_definitions_and_bounds(make_mlp(seed_, hidden=hidden, n_classes=n_classes), x, naive=hidden == 8)
        geo = geometry(make_mlp(seed_, hidden=hidden, n_classes=n_classes, bias=False), x)
        torch.testing.assert_close(geo.rho_tilde, geo.alpha_dagger, rtol=1e-8, atol=0)
