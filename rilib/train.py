"""One training loop; training regimes are loss functions.

A *regime* is a callable ``regime(model, x, y, *extra) -> (loss, logits)``: it returns the scalar loss to minimise
and the logits on which training accuracy is counted. :func:`fit` is the only loop; it knows nothing about
regimes beyond that.

Regimes
-------
:class:`CrossEntropy`        standard training
:class:`DoubleBackprop`      Drucker & LeCun (1992), as used by Etmann et al. (2019), Sec 4
:class:`Adversarial`         PGD adversarial training (Madry et al. 2018), L2 / L∞, CE or CW objective, as in
                             Kim et al. (2019) (adversarial-only batches) and Noack et al. (2021) (random start)
:class:`JacobianReg`         Frobenius-norm Jacobian regularisation, Noack et al. (2021) eq. (7)
:class:`InterpretationReg`   interpretation regularisation, Noack et al. (2021) eq. (3)

All gradient penalties use :func:`input_grad` with ``create_graph=True`` (Captum's gradient helper does not build
a graph, so it cannot sit inside a loss).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .attacks import pgd

__all__ = [
    "input_grad", "CrossEntropy", "DoubleBackprop", "Adversarial", "JacobianReg", "InterpretationReg",
    "fit", "FitResult", "evaluate", "seed_everything",
]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for data order."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def input_grad(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    target: torch.Tensor | int | None = None,
    *,
    create_graph: bool = False,
    objective: Literal["logit", "loss"] = "logit",
) -> torch.Tensor:
    """Per-example input gradient of the ``target`` logit (or of the cross-entropy loss), shape of ``x``.

    Examples in a batch must not interact (BatchNorm in eval mode, or no BatchNorm): the gradient of the batch
    *sum* is then each example's own gradient. ``objective="loss"`` differentiates the per-example cross-entropy
    ℓ(x_i, y_i) (not its batch mean, so no 1/B factor). ``target=None`` means the predicted class. With
    ``create_graph=True`` the result can be differentiated again w.r.t. the parameters (double backprop).
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        if target is None:
            target = logits.argmax(1)
        elif isinstance(target, int):
            target = torch.full((x.shape[0],), target, dtype=torch.long, device=x.device)
        if objective == "logit":
            out = logits.gather(1, target[:, None]).sum()
        elif objective == "loss":
            out = F.cross_entropy(logits, target, reduction="sum")
        else:
            raise ValueError(f"objective must be 'logit' or 'loss', not {objective!r}")
        (g,) = torch.autograd.grad(out, x, create_graph=create_graph)
    return g


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
        x = x.detach().requires_grad_(True)
        logits = model(x)
        ce = F.cross_entropy(logits, y, reduction="none")
        if self.lam == 0:
            return ce.mean(), logits
        (g,) = torch.autograd.grad(ce.sum(), x, create_graph=True)
        return ce.mean() + self.lam * g.flatten(1).pow(2).sum(1).mean(), logits


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
        x = x.detach().requires_grad_(True)
        logits = model(x)
        sq = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for c in range(logits.shape[1]):
            (g,) = torch.autograd.grad(logits[:, c].sum(), x, create_graph=True)
            sq = sq + g.flatten(1).pow(2).sum(1)
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
        x = x.detach().requires_grad_(True)
        logits = model(x)
        (g,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), x, create_graph=True)
        if self.absolute:
            g = g.abs()
        pen = (g - target).flatten(1).norm(dim=1)
        return F.cross_entropy(logits, y) + self.lam * pen.mean(), logits


@dataclass
class FitResult:
    """What :func:`fit` measured."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1000) -> float:
    """Clean accuracy (eval mode, no grad)."""
    model.eval()
    dev = next(model.parameters()).device
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            correct += int((model(x[i:i + batch_size].to(dev)).argmax(1).cpu() == y[i:i + batch_size]).sum())
    return correct / max(1, x.shape[0])


def _optimizer(model: nn.Module, spec: dict[str, Any]) -> torch.optim.Optimizer:
    spec = dict(spec)
    name = spec.pop("name", "adam").lower()
    if name == "adam":
        return torch.optim.Adam(model.parameters(), **spec)
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), **spec)
    raise ValueError(f"unknown optimizer {name!r}: use 'adam' or 'sgd'")


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    regime: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    *,
    epochs: int,
    batch_size: int = 100,
    optimizer: dict[str, Any] | None = None,
    lr_schedule: dict[str, Any] | None = None,
    extras: tuple[torch.Tensor, ...] = (),
    seed: int = 0,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    desc: str = "train",
) -> FitResult:
    """Train ``model`` in place on ``(x, y)`` with ``regime`` and return the per-epoch loss and accuracy.

    ``optimizer`` is a dict such as ``{"name": "adam", "lr": 1e-3}`` (the default) or ``{"name": "sgd", "lr": 1e-3,
    "momentum": 0.9, "weight_decay": 1e-6}``; ``lr_schedule`` ``{"step_size": 80, "gamma": 0.1}`` (epochs) for a
    step decay. The data order is drawn from a generator seeded with ``seed``: the same call gives the same model
    on the CPU. A tqdm bar shows loss and accuracy.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else next(model.parameters()).device
    g = seed_everything(seed)
    model.to(device)
    opt = _optimizer(model, optimizer or {"name": "adam", "lr": 1e-3})
    sched = torch.optim.lr_scheduler.StepLR(opt, **lr_schedule) if lr_schedule else None
    n = x.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    res = FitResult()
    t0 = time.perf_counter()
    bar = tqdm(total=epochs * steps_per_epoch, desc=desc, disable=not progress, leave=False, mininterval=1.0)
    for _epoch in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=g)
        tot_loss, tot_correct = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            ex = tuple(e[idx].to(device) for e in extras)
            loss, logits = regime(model, xb, yb, *ex)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: loss became {float(loss.detach())} at epoch {_epoch}; lower the lr or λ")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += float(loss.detach()) * len(idx)
            tot_correct += int((logits.detach().argmax(1) == yb).sum())
            bar.update(1)
            bar.set_postfix(loss=f"{tot_loss / min(n, (i + 1) * batch_size):.3f}",
                            acc=f"{tot_correct / min(n, (i + 1) * batch_size):.3f}", refresh=False)
        if sched is not None:
            sched.step()
        res.train_loss.append(tot_loss / n)
        res.train_acc.append(tot_correct / n)
    bar.close()
    model.eval()
    res.seconds = time.perf_counter() - t0
    if x_test is not None and y_test is not None:
        res.test_acc = evaluate(model, x_test, y_test)
    return res
