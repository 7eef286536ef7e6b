"""Wang et al. (2022), Theorem 3.3 and Figs 8 / 11: Gaussian smoothing of ReLU networks.

:func:`er` is the Er activation of the proof (App. A.2), E_{ε′∼N(0, s²)} ReLU(u + ε′) = u·Φ(u/s) + s·φ(u/s);
:func:`relu_mean_mc` its Monte-Carlo estimate (our check of the identity). :func:`sg_vs_boundary_sg` is Fig 11's
procedure (App. B.8): the boundary point x′ of the *smoothed* model by PGD on the noise-averaged loss (the same
``draws`` noise images for every example, NumPy seed 2020 as the paper; L2 steps of 2ε/steps, projection onto the
ε-ball and [0, 1]; an example stops once fewer than 10 % of its noisy copies keep the original label), then
SmoothGrad (the mean of the logit gradients over the same noisy copies, signed, Wang et al. Def. 2.3) at x and x′.

:class:`ErNet` is Theorem 3.3's smoothed one-layer network m_σ(x) = ReLU(Wx) under Gaussian noise, in closed form
(y_i = Er(w_iᵀx; σ‖w_i‖), eq. 10), and :func:`theorem33` measures the theorem on it: the saliency maps at x and at
the smoothed model's boundary point x′, their distance and the bound λ of eq. 19, over a grid of σ.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from ...gradients import input_grad

__all__ = ["er", "relu_mean_mc", "mc_check", "sg_vs_boundary_sg", "noise", "ErNet", "theorem33"]


def er(u: Tensor, s: float | Tensor) -> Tensor:
    """Er(u; s) = s/√(2π)·exp(−u²/2s²) + (u/2)(1 + erf(u/(√2 s))) (Wang et al. eq. in App. A.2); Er(0; s) = s/√(2π)."""
    u = torch.as_tensor(u, dtype=torch.float64)
    s = torch.as_tensor(s, dtype=torch.float64)
    return s / math.sqrt(2 * math.pi) * torch.exp(-u ** 2 / (2 * s ** 2)) + u / 2 * (1 + torch.erf(u / (math.sqrt(2) * s)))


def relu_mean_mc(u: Tensor, s: float, n: int, *, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Monte-Carlo mean of ReLU(u + ε′), ε′ ~ N(0, s²), with ``n`` draws (the same draws for every u), and its
    standard error."""
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(n, generator=g, dtype=torch.float64) * s
    v = torch.relu(torch.as_tensor(u, dtype=torch.float64)[:, None] + e[None, :])
    return v.mean(1), v.std(1) / math.sqrt(n)


def mc_check(u: Tensor, s: float, n: int, *, seed: int = 0, min_share: float = 1e-3) -> tuple[float, float]:
    """Monte Carlo against :func:`er` on the grid ``u``: (the largest |MC − Er| in standard errors over the points
    where at least ``min_share`` of the draws are positive — there the standard error is well estimated —, the
    largest |MC − Er| over the other points, where both are ≈ 0)."""
    u = torch.as_tensor(u, dtype=torch.float64)
    mc, se = relu_mean_mc(u, s, n, seed=seed)
    g = torch.Generator().manual_seed(seed)
    share = (u[:, None] + torch.randn(n, generator=g, dtype=torch.float64)[None] * s > 0).double().mean(1)
    err = (mc - er(u, s)).abs()
    reliable = share >= min_share
    z = float((err[reliable] / se[reliable]).max()) if reliable.any() else 0.0
    tail = float(err[~reliable].max()) if (~reliable).any() else 0.0
    return z, tail


def noise(shape: tuple[int, ...], draws: int, sigma: float, seed: int = 2020) -> Tensor:
    """(draws, *shape) Gaussian noise of standard deviation ``sigma`` from NumPy's generator seeded ``seed`` (the
    paper's noise; the same draws for every image)."""
    rng = np.random.RandomState(seed)
    return torch.from_numpy(rng.normal(size=(draws, *shape)).astype(np.float32)) * float(sigma)


def _smoothgrad(model, x: Tensor, y: Tensor, eta: Tensor) -> Tensor:
    k = eta.shape[0]
    xs = (x[:, None] + eta[None]).flatten(0, 1)
    g = input_grad(model, xs, y.repeat_interleave(k), objective="logit")
    return g.view(x.shape[0], k, *x.shape[1:]).mean(1)


def sg_vs_boundary_sg(model, x: Tensor, y: Tensor, *, sigma: float, draws: int, eps: float, steps: int,
                      seed: int = 2020, keep: float = 0.1) -> dict[str, Tensor]:
    """Per example: ``distance`` ‖SG(x) − SG(x′)‖₂, ``valid`` (at least ``keep`` of the noisy copies of x itself keep
    the label: otherwise x is already past the smoothed boundary and x′ = x), ``success`` (valid, and fewer than
    ``keep`` of the noisy copies of x′ keep the label), ``delta`` ‖x′ − x‖₂, for the smoothed model's boundary point
    x′ (module docstring)."""
    dev = next(model.parameters()).device
    x, y = x.to(dev), y.to(dev)
    eta = noise(tuple(x.shape[1:]), draws, sigma, seed).to(dev)
    k, view = eta.shape[0], (-1, *[1] * (x.dim() - 1))

    def kept(v: Tensor, labels: Tensor) -> Tensor:
        with torch.no_grad():
            pred = model((v[:, None] + eta[None]).flatten(0, 1)).argmax(1).view(v.shape[0], k)
        return (pred == labels[:, None]).float().mean(1)

    xa = x.clone()
    step = 2.0 * eps / steps
    active = kept(xa, y) >= keep
    valid = active.clone()  # the smoothed model keeps the label of x itself
    for _ in range(steps):
        if not active.any():
            break
        xs = (xa[active][:, None] + eta[None]).flatten(0, 1)
        g = input_grad(model, xs, y[active].repeat_interleave(k), objective="loss")
        g = g.view(-1, k, *x.shape[1:]).sum(1)
        g = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(view)
        d = xa[active] + step * g - x[active]
        d = d * (eps / d.flatten(1).norm(dim=1).clamp_min(eps)).view(view)  # onto the ε-ball
        xa[active] = (x[active] + d).clamp(0.0, 1.0)
        still = active.clone()
        still[active] = kept(xa[active], y[active]) >= keep
        active = still
    success = kept(xa, y) < keep
    dist = (_smoothgrad(model, x, y, eta) - _smoothgrad(model, xa, y, eta)).flatten(1).norm(dim=1)
    return {"distance": dist.cpu(), "success": (success & valid).cpu(), "valid": valid.cpu(),
            "delta": (xa - x).flatten(1).norm(dim=1).cpu()}


class ErNet(nn.Module):
    """Theorem 3.3's one-layer network ReLU(Wx) smoothed by Gaussian noise of standard deviation σ, in closed form:
    class i's output E_ε ReLU(w_iᵀ(x + ε)) = Er(w_iᵀx; σ‖w_i‖) (App. A.2, eq. 10). Float64."""

    def __init__(self, weight: Tensor, sigma: float):
        super().__init__()
        self.weight = nn.Parameter(torch.as_tensor(weight, dtype=torch.float64).clone(), requires_grad=False)
        self.sigma = float(sigma)

    def forward(self, x: Tensor) -> Tensor:
        u = x.flatten(1).to(torch.float64) @ self.weight.T
        return er(u, self.sigma * self.weight.norm(dim=1))


def theorem33(weight: Tensor, x: Tensor, sigmas, *, ladder, pgd_steps: int = 50, bisect: int = 30,
              bound: float = 20.0) -> dict[str, np.ndarray]:
    """Theorem 3.3 / Corollary 3.4 measured on :class:`ErNet` for each σ of ``sigmas`` and each point of ``x``
    (N, d): x′ = the smoothed model's boundary point from :func:`rilib.attacks.boundary.boundary_search` (PGD over
    ``ladder`` + bisection onto the boundary, no random start), i = the class at x; ``distance`` ‖g(x) − g(x′)‖ of
    the saliency maps of class i (eq. 15), ``lam`` = erf(‖w_i‖(‖x‖ + r)/(√2 s))·‖w_i‖ with s = σ‖w_i‖ and
    r = ‖x − x′‖ (eq. 19), ``r``, ``success``; each (n_sigma, N); and ``lam_fixed``, eq. 19's λ as the theorem reads it
    — a function of σ with ‖w_i‖, ‖x‖ and r held at their values at the first σ (App. A.2: "constants")."""
    from ...attacks.boundary import boundary_search
    from ...gradients import input_grad

    x = torch.as_tensor(x, dtype=torch.float64)
    W = torch.as_tensor(weight, dtype=torch.float64)
    out = {k: [] for k in ("distance", "lam", "r", "success", "lam_fixed")}
    w0 = r0 = None
    for sigma in sigmas:
        net = ErNet(W, sigma).eval()
        with torch.no_grad():
            c = net(x).argmax(1)
        res = boundary_search(net, x, c, bounds=(-bound, bound), ladder=list(ladder), pgd_steps=pgd_steps,
                              bisect=bisect, random_start=False)
        xb = res.x_boundary.to(torch.float64)
        g, gb = input_grad(net, x, c), input_grad(net, xb, c)
        r = (x - xb).norm(dim=1)
        w = W[c].norm(dim=1)
        s = float(sigma) * w
        out["distance"].append((g - gb).norm(dim=1))
        out["lam"].append(torch.erf(w * (x.norm(dim=1) + r) / (math.sqrt(2) * s)) * w)
        out["r"].append(r)
        out["success"].append(res.success)
        if w0 is None:
            w0, r0 = w, r
        out["lam_fixed"].append(torch.erf(w0 * (x.norm(dim=1) + r0) / (math.sqrt(2) * float(sigma) * w0)) * w0)
    return {k: torch.stack(v).numpy() for k, v in out.items()}
