"""Training regimes: each is a loss function ``regime(model, x, y, *extra) -> (loss, logits)``.

:class:`CrossEntropy`        standard training
:class:`DoubleBackprop`      Drucker & LeCun (1992), as used by Etmann et al. (2019), Sec 4
:class:`Adversarial`         PGD adversarial training (Madry et al. 2018), L2 / L∞, CE or CW objective, as in
                             Kim et al. (2019) (adversarial-only batches) and Noack et al. (2021) (random start)
:class:`JacobianReg`         Frobenius-norm Jacobian regularisation, Noack et al. (2021) eq. (7)
:class:`InterpretationReg`   interpretation regularisation, Noack et al. (2021) eq. (3)

All gradient penalties use :func:`rilib.gradients.input_grad` with ``create_graph=True`` (Captum's gradient helper
does not build a graph, so it cannot sit inside a loss).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F

from ..attacks import pgd
from ..gradients import input_grad

__all__ = ["CrossEntropy", "DoubleBackprop", "Adversarial", "JacobianReg", "InterpretationReg"]


@dataclass(frozen=True)
class CrossEntropy:
    """Standard training: mean cross-entropy."""

    def __call__(self, model, x, y, *extra):
        logits = model(x)
        return F.cross_entropy(logits, y), logits


@dataclass(frozen=True)
class DoubleBackprop:
    """Cross-entropy + ``lam`` · mean_i ‖∇ₓ ℓ(x_i, y_i)‖², Etmann et al. (2019) Sec 4 loss.

    ``lam`` is **per example**: the gradient of each example's own loss. Etmann et al.'s code penalises the
    gradient of the *batch-mean* loss, so each example's gradient carries 1/B and their λ corresponds to
    ``lam = λ_paper / B²``; use :meth:`from_paper` to convert (B = 100: λ_paper 10 … 180 000 ↔ lam 1e-3 … 18).
    """

    lam: float

    @classmethod
    def from_paper(cls, lam_paper: float, *, batch_size: int = 100) -> "DoubleBackprop":
        return cls(lam=lam_paper / batch_size**2)

    def __call__(self, model, x, y, *extra):
        if self.lam == 0:
            logits = model(x)
            return F.cross_entropy(logits, y), logits
        g, logits = input_grad(model, x, y, objective="loss", create_graph=True, return_logits=True, strict=False)
        return F.cross_entropy(logits, y) + self.lam * g.flatten(1).pow(2).sum(1).mean(), logits


@dataclass(frozen=True)
class Adversarial:
    """PGD adversarial training: the loss on adversarial examples of the batch (Madry et al. 2018).

    ``adversarial_only=True`` trains on the adversarial examples alone (Kim et al.; Noack et al. "used in place of
    the original samples"); ``False`` averages clean and adversarial loss. The attack is generated with the model in
    eval mode (dropout off, BatchNorm running statistics untouched) and the mode is restored for the update.
    """

    eps: float
    norm: Literal["l2", "linf"] = "l2"
    steps: int = 40
    step_size: float | None = None
    loss: Literal["ce", "cw"] = "ce"
    random_start: bool = False
    adversarial_only: bool = True
    bounds: tuple[float, float] = (0.0, 1.0)

    def __call__(self, model, x, y, *extra):
        was_training = model.training
        model.eval()
        x_adv = pgd(model, x, y, eps=self.eps, norm=self.norm, steps=self.steps, step_size=self.step_size,
                    loss=self.loss, random_start=self.random_start, bounds=self.bounds)
        model.train(was_training)
        logits_adv = model(x_adv)
        loss = F.cross_entropy(logits_adv, y)
        if self.adversarial_only:
            return loss, logits_adv
        logits = model(x)
        return 0.5 * (loss + F.cross_entropy(logits, y)), logits


@dataclass(frozen=True)
class JacobianReg:
    """Cross-entropy + ``lam`` · ‖J(x)‖_F, Noack et al. (2021) eq. (7) (``squared=True``: ‖J‖²_F, Jakubovitz & Giryes).

    J is the Jacobian of the logits w.r.t. the input, computed exactly with one backward pass per class.
    """

    lam: float
    squared: bool = False

    def __call__(self, model, x, y, *extra):
        jac, logits = input_grad(model, x, "all", create_graph=True, return_logits=True, strict=False)
        sq = jac.flatten(1).pow(2).sum(1)  # ‖J(x)‖²_F, one backward pass per class
        pen = sq if self.squared else sq.clamp_min(1e-12).sqrt()
        return F.cross_entropy(logits, y) + self.lam * pen.mean(), logits


@dataclass(frozen=True)
class InterpretationReg:
    """Cross-entropy + ``lam`` · ‖I(x) − ∇ₓ z_y(x)‖₂, Noack et al. (2021) eq. (3).

    The target interpretation I(x) comes as the first *extra* tensor of each batch (same shape as x). The norm is
    not squared, as in eq. (3) and the authors' code. ``absolute=True`` compares with |∇ₓ z_y| (the code; targets
    are absolute SmoothGrad maps, eq. (4)).
    """

    lam: float
    absolute: bool = True

    def __call__(self, model, x, y, *extra):
        if not extra:
            raise ValueError("InterpretationReg needs target interpretations: fit(..., extras=(targets,))")
        target = extra[0]
        g, logits = input_grad(model, x, y, create_graph=True, return_logits=True, strict=False)
        if self.absolute:
            g = g.abs()
        pen = (g - target).flatten(1).norm(dim=1)
        return F.cross_entropy(logits, y) + self.lam * pen.mean(), logits
