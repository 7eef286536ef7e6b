"""The per-example outcome every attack of :mod:`rilib.attacks` returns, and the small helpers the attacks share."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

Norm = Literal["l2", "linf"]


def flat_norm(v: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Per-example L2 or L∞ norm of a batch."""
    v = v.flatten(1)
    return v.norm(dim=1) if norm == "l2" else v.abs().amax(dim=1)


def view_as_batch(s: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-example (B,) tensor shaped to broadcast against ``like`` (B, ...)."""
    return s.view(-1, *([1] * (like.dim() - 1)))


@dataclass
class AttackResult:
    """Per-example outcome of :func:`rilib.attacks.attack`."""

    x_adv: torch.Tensor
    success: torch.Tensor  # bool (B,)
    l2: torch.Tensor  # ‖x_adv − x‖₂, +inf where the attack failed
    linf: torch.Tensor
    epsilon: torch.Tensor | None = None  # smallest successful ε of a grid search (+inf if none)

    @property
    def failure_rate(self) -> float:
        return float((~self.success).float().mean())


def make_result(x, x_adv, success, eps) -> AttackResult:
    """:class:`AttackResult` of adversarial points ``x_adv`` for ``x`` (distances +inf where ``success`` is False)."""
    success = torch.as_tensor(success).to(x.device).bool()
    x_adv = torch.as_tensor(x_adv).to(x.device).detach()
    inf = torch.full((x.shape[0],), float("inf"), device=x.device)
    d = x_adv - x
    l2 = torch.where(success, flat_norm(d, "l2"), inf)
    linf = torch.where(success, flat_norm(d, "linf"), inf)
    return AttackResult(x_adv.cpu(), success.cpu(), l2.cpu(), linf.cpu(), None if eps is None else eps.cpu())


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode inside the block and give every submodule back its own train/eval flag after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """``model``'s parameters out of autograd inside the block (``requires_grad`` off, each one's flag restored
    after).

    An attack needs the gradient with respect to the input only. Foolbox and ART take it with ``loss.backward()``,
    which would also compute every parameter's gradient (on a conv net about a third of each backward pass) and leave
    it in the parameters' ``.grad``. The input gradient does not change.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def check_bounds(x: torch.Tensor, bounds: tuple[float, float]) -> None:
    """Raise ``ValueError`` (not Foolbox's bare AssertionError) if ``x`` leaves the attack's ``bounds``."""
    lo, hi = bounds
    if x.numel() == 0:
        return
    x_min, x_max = float(x.min()), float(x.max())
    if x_min < lo or x_max > hi:
        raise ValueError(
            f"inputs lie in [{x_min:.6g}, {x_max:.6g}], outside bounds=({lo:g}, {hi:g}): attacks clip to the bounds "
            "and Foolbox refuses inputs outside them. Pass the data's bounds (e.g. dataset.bounds, (0.0, 1.0) for "
            "images scaled to [0, 1]), not the range of a normalised copy."
        )
