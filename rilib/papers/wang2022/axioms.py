"""Wang et al. (2022), Table 4 and App. C measured: path attributions along polylines, and a network symmetric in
two inputs.

:func:`path_attribution` integrates ∇f along a polyline (each segment by the trapezoid rule): the straight segment
from the baseline is IG; App. C's staircases (0,0) → (1,0) → (1,1) and (0,0) → (0,1) → (1,1) are the non-linear
paths whose attributions break symmetry. :func:`symmetric_net` is a random ReLU classifier f(v) = h(v) + h(Pv), P
swapping inputs 0 and 1, so that features 0 and 1 are symmetric for it.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MinModel", "path_attribution", "symmetric_net", "linear_equivalence"]


class MinModel(nn.Module):
    """Two logits (min(x, y), 0) with min(x, y) = (x + y − |x − y|)/2 (symmetric subgradient on the diagonal)."""

    def forward(self, v: Tensor) -> Tensor:
        f = (v[:, 0] + v[:, 1] - (v[:, 0] - v[:, 1]).abs()) / 2
        return torch.stack([f, torch.zeros_like(f)], 1)


def path_attribution(f, vertices: list[Tensor], *, steps: int = 200) -> Tensor:
    """Σ over the polyline's segments [a, b] of (b − a) ⊙ ∫₀¹ ∇f(a + t(b − a)) dt (trapezoid rule, ``steps`` points
    per segment); ``f`` maps a (B, D) batch to (B,)."""
    total = torch.zeros_like(vertices[0])
    t = torch.linspace(0, 1, steps, dtype=vertices[0].dtype)
    w = torch.full((steps,), 1.0 / (steps - 1), dtype=t.dtype)
    w[0] = w[-1] = 0.5 / (steps - 1)
    for a, b in zip(vertices, vertices[1:]):
        pts = (a[None] + t[:, None] * (b - a)[None]).requires_grad_(True)
        (g,) = torch.autograd.grad(f(pts).sum(), pts)
        total = total + (b - a) * (w[:, None] * g).sum(0)
    return total


class _Symmetric(nn.Module):
    def __init__(self, h: nn.Module):
        super().__init__()
        self.h = h

    def forward(self, v: Tensor) -> Tensor:
        swapped = torch.cat([v[:, 1:2], v[:, 0:1], v[:, 2:]], 1)
        return self.h(v) + self.h(swapped)


def symmetric_net(d: int = 6, hidden: int = 32, classes: int = 3, seed: int = 0) -> nn.Module:
    """A random ReLU classifier on (B, d) inputs, symmetric in features 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    h = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, classes))
    with torch.no_grad():
        for p in h.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.7)
    return _Symmetric(h).eval()


def linear_equivalence(*, d: int = 20, classes: int = 4, n: int = 32, seed: int = 0) -> dict[str, float]:
    """Sec 3.1 on a random linear classifier z = Wx + b (float64): for each x (n of them, in [0, 1]^d) and its
    predicted class c, the cosine with w_c of SM (∇z_c), of SmoothGrad (σ = 0.1, 16 draws) and of IG's integral part
    (IG / (x − x₀), black baseline x₀ = 0); the smallest over the points, per method. All are w_c up to scale by
    linearity (expected 1 up to round-off)."""
    from ... import attribution

    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(d, classes).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(classes, d, generator=g, dtype=torch.float64))
        lin.bias.copy_(torch.randn(classes, generator=g, dtype=torch.float64))
    x = torch.rand(n, d, generator=g, dtype=torch.float64) * 0.9 + 0.05
    with torch.no_grad():
        c = lin(x).argmax(1)
    w = lin.weight.detach()[c]
    kw = dict(target=c, abs=False, channel_sum=False)
    maps = {"sm": attribution.attribute(lin, x, method="saliency", **kw),
            "sg": attribution.attribute(lin, x, method="smoothgrad", sigma=0.1, n=16, abs_each=False, **kw),
            "ig": attribution.attribute(lin, x, method="integrated_gradients", baseline=0.0, n_steps=20, **kw) / x}
    return {k: float(torch.nn.functional.cosine_similarity(v, w, dim=1).min()) for k, v in maps.items()}
