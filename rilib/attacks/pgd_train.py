"""The in-house PGD that adversarial training uses (``method="pgd-train"`` of :func:`rilib.attacks.attack`).

Training needs the CW objective, per-step control and no Foolbox round trips inside its loop, so this module
imports neither Foolbox nor the rest of :mod:`rilib.attacks`' Foolbox machinery. (It is not called ``pgd.py``:
``rilib.attacks.pgd`` is the function, and a submodule of that name would shadow it.)

Every operation is per example (the objective is summed over the batch only to take all per-example gradients in
one backward pass), so a point's result does not depend on its batch-mates — provided the model's examples do
not interact (no BatchNorm in training mode) and, with ``random_start``, the noise is the same.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .result import Norm, flat_norm, view_as_batch

__all__ = ["pgd", "project"]


def project(delta: torch.Tensor, eps: float, norm: Norm) -> torch.Tensor:
    """Euclidean projection of each perturbation in ``delta`` onto the ``norm``-ball of radius ``eps``."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = flat_norm(delta, "l2")
    factor = torch.where(n > eps, eps / n.clamp_min(1e-12), torch.ones_like(n))
    return delta * view_as_batch(factor, delta)


def _objective(logits: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-example quantity the attacker ascends."""
    if loss == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    if loss == "cw":
        # Carlini–Wagner margin max_{j≠y} z_j − z_y. Kim et al.'s code uses −relu(z_y − max_j z_j + 500); with that
        # large confidence the ReLU never clips, so it is this margin.
        true = logits.gather(1, y[:, None]).squeeze(1)
        other = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
        return other - true
    raise ValueError(f"unknown attack objective {loss!r}: use 'ce' or 'cw'")


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: Norm = "l2",
    steps: int = 40,
    step_size: float | None = None,
    loss: str = "ce",
    random_start: bool = False,
    bounds: tuple[float, float] = (0.0, 1.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient ascent of the loss in the ``eps``-ball (Madry et al. 2018; Kurakin et al. 2016).

    L2 steps move ``step_size`` along the normalised gradient (as in Kim et al.'s code), L∞ steps along its sign.
    After each step the perturbation is projected onto the ε-ball and the input clipped to ``bounds`` (clipping
    only shrinks each coordinate of the perturbation, so the result stays in both sets). ``step_size`` defaults to
    ``2.5 * eps / steps``. The model's train/eval mode is left as it is; gradients of the parameters are untouched.
    """
    if eps <= 0:
        return x.detach().clone()
    lo, hi = bounds
    step = 2.5 * eps / steps if step_size is None else step_size
    x = x.detach()
    if random_start:
        if norm == "linf":
            delta = (torch.rand(x.shape, generator=generator, device="cpu").to(x) * 2 - 1) * eps
        else:
            d = torch.randn(x.shape, generator=generator, device="cpu").to(x)
            d = d / view_as_batch(flat_norm(d, "l2").clamp_min(1e-12), d)
            r = torch.rand(x.shape[0], generator=generator, device="cpu").to(x) ** (1.0 / x[0].numel())
            delta = d * view_as_batch(r * eps, d)
        delta = (x + delta).clamp(lo, hi) - x
    else:
        delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        with torch.enable_grad():
            obj = _objective(model(x + delta), y, loss).sum()
            (grad,) = torch.autograd.grad(obj, delta)
        with torch.no_grad():
            if norm == "linf":
                delta = delta + step * grad.sign()
            else:
                delta = delta + step * grad / view_as_batch(flat_norm(grad, "l2").clamp_min(1e-12), grad)
            delta = project(delta, eps, norm)
            delta = (x + delta).clamp(lo, hi) - x
    return (x + delta).detach()
