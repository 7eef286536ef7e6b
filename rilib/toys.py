"""Toy models and 2-D decision-boundary geometry.

* :class:`AffineBinary` — the binary linear / affine classifier of Etmann et al. (2019), Sec 2.1 and the poster's
  "simple toy example", written as a two-logit network (Ψ, −Ψ) so the multi-class machinery (geometry kernel,
  Foolbox) applies unchanged.
* :func:`affine_robustness` — its exact robustness ρ(x) = |⟨x, z⟩ + b| / ‖z‖ (eq. 2 / Sec 2.1).
* :func:`boundary_points` / :func:`boundary_tilt` — where a 2-class network's decision boundary crosses segments,
  and the angle of its normal to a direction (Kim et al. 2019, Fig 3b: "the boundary is tilted along directions of
  low variance").
* :func:`decision_grid` — class predictions on a grid, for decision-region plots.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["AffineBinary", "affine_robustness", "boundary_points", "boundary_tilt", "decision_grid",
           "principal_directions"]


class AffineBinary(nn.Module):
    """Binary classifier F(x) = sgn(Ψ(x)), Ψ(x) = ⟨x, z⟩ + b, as logits (Ψ, −Ψ): class 0 iff Ψ(x) > 0.

    With ``b = 0`` it is linear (positively homogeneous), the case where robustness and alignment coincide.
    """

    def __init__(self, z: torch.Tensor, b: float = 0.0):
        super().__init__()
        self.z = nn.Parameter(z.detach().clone().flatten(), requires_grad=False)
        self.bias = nn.Parameter(torch.tensor(float(b), dtype=z.dtype), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        psi = x.flatten(1) @ self.z + self.bias
        return torch.stack([psi, -psi], dim=1)


def affine_robustness(x: torch.Tensor, z: torch.Tensor, b: float = 0.0) -> torch.Tensor:
    """Exact ρ(x) = |⟨x, z⟩ + b| / ‖z‖ of :class:`AffineBinary` (Etmann et al. eq. 2 and Sec 2.1)."""
    return (x.flatten(1) @ z.flatten() + b).abs() / z.norm()


def _margin(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return out[:, 1] - out[:, 0]


def boundary_points(model: nn.Module, a: torch.Tensor, b: torch.Tensor, *, iters: int = 60) -> tuple[torch.Tensor, torch.Tensor]:
    """Bisection on each segment [a_i, b_i] for the point where the 2-class margin Ψ¹ − Ψ⁰ changes sign.

    Returns ``(points, valid)``; ``valid`` is False where the model gives a and b the same class (no crossing is
    guaranteed then, and the point is meaningless).
    """
    with torch.no_grad():
        fa, fb = _margin(model, a), _margin(model, b)
        valid = (fa * fb) < 0
        lo, hi = torch.zeros_like(fa), torch.ones_like(fa)
        for _ in range(iters):
            mid = (lo + hi) / 2
            fm = _margin(model, a + mid[:, None] * (b - a))
            same = (fm * fa) > 0
            lo = torch.where(same, mid, lo)
            hi = torch.where(same, hi, mid)
        return a + ((lo + hi) / 2)[:, None] * (b - a), valid


def boundary_tilt(model: nn.Module, points: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Angle (degrees, in [0, 90]) between the boundary normal ∇(Ψ¹ − Ψ⁰) at ``points`` and ``direction``.

    With ``direction`` the data's high-variance direction, 0° means the boundary cuts the data manifold at a right
    angle (no tilt) and 90° that it runs along it (Kim et al. 2019, Fig 3a).
    """
    x = points.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(_margin(model, x).sum(), x)
    n = g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
    d = direction / direction.norm()
    cos = (n @ d).abs().clamp(max=1.0)
    return torch.rad2deg(torch.acos(cos))


def principal_directions(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(high-variance, low-variance) unit eigenvectors of a 2×2 covariance matrix."""
    evals, evecs = torch.linalg.eigh(torch.as_tensor(cov, dtype=torch.float64))
    return evecs[:, 1].float(), evecs[:, 0].float()


def decision_grid(model: nn.Module, xlim: tuple[float, float], ylim: tuple[float, float], n: int = 300):
    """Predicted class and margin on an ``n``×``n`` grid: returns (xx, yy, classes, margin) as numpy arrays."""
    xs = torch.linspace(xlim[0], xlim[1], n)
    ys = torch.linspace(ylim[0], ylim[1], n)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    dev = next(model.parameters()).device
    with torch.no_grad():
        out = torch.cat([model(pts[i:i + 65536].to(dev)).cpu() for i in range(0, pts.shape[0], 65536)])
    margin = (out[:, 1] - out[:, 0]).reshape(n, n)
    return xx.numpy(), yy.numpy(), (margin > 0).int().numpy(), margin.numpy()

