"""Decision boundaries of 2-class networks, for the toy figures.

* :func:`boundary_points` / :func:`boundary_tilt` — where a 2-class network's decision boundary crosses segments,
  and the angle of its normal to a direction (Kim et al. 2019, Fig 3b: "the boundary is tilted along directions of
  low variance").
* :func:`decision_grid` — class predictions on a grid, for decision-region plots.
"""
from __future__ import annotations

import torch
from torch import nn

from ..gradients import input_grad
from ..search import bisect

__all__ = ["boundary_points", "boundary_tilt", "decision_grid", "principal_directions"]


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

        def crossed(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            pa = a[idx]
            return (_margin(model, pa + t[:, None] * (b[idx] - pa)) * fa[idx]) <= 0

        lo, hi = bisect(crossed, torch.zeros_like(fa), torch.ones_like(fa), steps=iters)
        return a + ((lo + hi) / 2)[:, None] * (b - a), valid


def boundary_tilt(model: nn.Module, points: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Angle (degrees, in [0, 90]) between the boundary normal ∇(Ψ¹ − Ψ⁰) at ``points`` and ``direction``.

    With ``direction`` the data's high-variance direction, 0° means the boundary cuts the data manifold at a right
    angle (no tilt) and 90° that it runs along it (Kim et al. 2019, Fig 3a).
    """
    g = input_grad(model, points, 0, objective=lambda logits, _: logits[:, 1] - logits[:, 0])
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

