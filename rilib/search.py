"""The one per-example bisection of rilib.

Several measurements are "the smallest t at which something happens", per example: the smallest successful ε of a
fixed-ε attack (Etmann et al.'s ε search around Foolbox's BIM), the smallest step along a line that flips the
prediction (Foolbox 1's GradientAttack), the point of a segment where a 2-class margin changes sign (Kim et al.'s
boundary points). Each has its own test ``crossed(t, active) -> bool``; :func:`bisect` owns the bracket logic.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["bisect"]


def bisect(crossed: Callable[[Tensor, Tensor], Tensor], lower: Tensor, upper: Tensor, *, steps: int,
           active: Tensor | None = None, geometric: bool = False,
           on_crossed: Callable[[Tensor, Tensor], None] | None = None) -> tuple[Tensor, Tensor]:
    """Shrink each example's bracket ``[lower, upper]`` around its crossing, ``steps`` halvings.

    ``crossed(t, idx)`` evaluates the examples ``idx`` (a 1-D index tensor) at their own midpoints ``t`` (same
    length) and returns True where the crossing lies at or below ``t`` (the upper end moves to ``t``), else the
    lower end moves. ``geometric=True`` takes the geometric midpoint where ``lower > 0`` (brackets spanning
    decades, like an ε grid) and the arithmetic one where ``lower == 0``. ``active`` restricts the search (other
    examples keep their bracket); ``on_crossed(idx, t)`` is told which examples moved their upper end, so a caller
    can keep the adversarial point found there. Returns the final ``(lower, upper)``.
    """
    lower, upper = lower.clone(), upper.clone()
    idx = torch.arange(lower.shape[0], device=lower.device) if active is None else \
        torch.nonzero(active).flatten().to(lower.device)
    if idx.numel() == 0:
        return lower, upper
    for _ in range(steps):
        lo, hi = lower[idx], upper[idx]
        mid = torch.where(lo > 0, (lo * hi).sqrt(), (lo + hi) / 2) if geometric else (lo + hi) / 2
        hit = crossed(mid, idx).to(lower.device).bool()
        upper[idx[hit]] = mid[hit]
        lower[idx[~hit]] = mid[~hit]
        if on_crossed is not None and hit.any():
            on_crossed(idx[hit], mid[hit])
    return lower, upper
