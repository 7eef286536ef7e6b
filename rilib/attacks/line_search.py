"""The gradient attack (``method="gradient"``): a line search along the loss-gradient direction.

Etmann et al. (2019) measure a "gradient attack" distance with Foolbox 1's ``GradientAttack``. Foolbox 3 has no
such attack; :func:`gradient_line_search` is a variant of it, see its docstring for what it does and how it differs.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .foolbox_attacks import fool_model, import_foolbox
from .result import AttackResult, flat_norm, make_result, view_as_batch

__all__ = ["gradient_line_search"]


def gradient_line_search(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, bounds: tuple[float, float],
                         device=None, max_epsilon: float | None = None, scan: int = 32,
                         bisection: int = 30) -> AttackResult:
    """Smallest step along the (clipped) normalised loss gradient that changes the prediction, per example.

    A variant of Foolbox 1's ``GradientAttack`` (a line search along the loss gradient), not that attack itself:

    * direction: Foolbox 3's L2 fast-gradient step (``L2FastGradientAttack``) taken at a tiny ε, ``1e-4`` of the
      bounds' width, so it is the gradient *pre-clipped* at the data bounds (coordinates that would leave the box
      are cut as Foolbox cuts them), then normalised to unit L2 norm;
    * scan: along ``x + ε·u`` (clipped to ``bounds``), ``scan`` geometrically spaced ε over six decades up to
      ``max_epsilon`` (default: the diameter of the data box); the first ε that changes the prediction is kept;
    * bisection: the bracket of that *first* crossing (previous scan value, or 0) is bisected ``bisection`` times
      (arithmetic midpoints) with :func:`rilib.search.bisect`; later crossings are never looked at.

    The result is the smallest successful ε of the scan's first crossing, to ~1e-9 relative precision (a 32-value
    scan over 6 decades has brackets ×1.56 wide; 30 halvings shrink them by 2^-30). Every step is per example, so
    a point's answer does not depend on its batch-mates. Points never fooled on the line get distance +inf.
    """
    from ..search import bisect

    fb = import_foolbox()
    lo, hi = bounds
    fmodel = fool_model(model, bounds=bounds, device=device)
    tiny = 1e-4 * (hi - lo)
    raw, _, _ = fb.attacks.L2FastGradientAttack(random_start=False)(fmodel, x, fb.criteria.Misclassification(y),
                                                                     epsilons=tiny)
    u = torch.as_tensor(raw).to(x.device) - x
    u = u / view_as_batch(flat_norm(u, "l2").clamp_min(1e-30), u)
    eps_max = max_epsilon if max_epsilon is not None else (hi - lo) * x[0].numel() ** 0.5
    grid = torch.logspace(math.log10(eps_max) - 6, math.log10(eps_max), scan, device=x.device, dtype=x.dtype)

    def fooled(eps: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model((x[idx] + view_as_batch(eps, x[idx]) * u[idx]).clamp(lo, hi)).argmax(1) != y[idx]

    everyone = torch.arange(x.shape[0], device=x.device)
    first = torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
    for k in range(scan):
        ok = fooled(grid[k].expand(x.shape[0]), everyone) & (first < 0)
        first[ok] = k
    success = first >= 0
    upper = grid[first.clamp_min(0)]
    lower = torch.where(first > 0, grid[(first - 1).clamp_min(0)], torch.zeros_like(upper))
    _, upper = bisect(fooled, lower, upper, steps=bisection, active=success)
    eps = torch.where(success, upper, torch.full_like(upper, float("inf")))
    x_adv = (x + view_as_batch(torch.where(success, upper, torch.zeros_like(upper)), x) * u).clamp(lo, hi)
    return make_result(x, x_adv, success, eps)
