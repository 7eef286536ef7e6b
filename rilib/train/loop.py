"""The one training loop: :func:`fit` knows nothing about regimes beyond ``regime(model, x, y, *extra)``."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn

__all__ = ["fit", "FitResult", "evaluate", "seed_everything"]


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


def _optimizer(params: Iterable[nn.Parameter], spec: dict[str, Any]) -> torch.optim.Optimizer:
    spec = dict(spec)
    name = spec.pop("name", "adam").lower()
    if "betas" in spec:  # a JSON spec holds a list
        spec["betas"] = tuple(spec["betas"])
    if name == "adam":
        return torch.optim.Adam(params, **spec)
    if name == "sgd":
        return torch.optim.SGD(params, **spec)
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
    step decay. A regime with a method ``trainable(model)`` (e.g. :class:`~rilib.train.regimes.VAEGAN`, which
    updates its discriminator itself) has only those parameters optimised; else all of ``model.parameters()``. The
    data order is drawn from a generator seeded with ``seed``: the same call gives the same model on the CPU. A
    tqdm bar shows loss and accuracy; under :mod:`rilib.runner` (``$RILIB_PROGRESS`` set) there is no
    bar, and one line per epoch (at most one per 10 s, and the last; whatever ``progress`` says) goes to the
    runner's terminal instead (:func:`rilib.parallel.report`).
    """
    from ..parallel import duration, progress_bar, report

    device = torch.device(device) if device is not None else next(model.parameters()).device
    g = seed_everything(seed)
    model.to(device)
    params = regime.trainable(model) if hasattr(regime, "trainable") else model.parameters()
    opt = _optimizer(params, optimizer or {"name": "adam", "lr": 1e-3})
    sched = torch.optim.lr_scheduler.StepLR(opt, **lr_schedule) if lr_schedule else None
    n = x.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    res = FitResult()
    t0 = time.perf_counter()
    bar = progress_bar(total=epochs * steps_per_epoch, desc=desc, show=progress, mininterval=1.0)
    last_report = t0
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
        now = time.perf_counter()
        if now - last_report >= 10.0 or _epoch + 1 == epochs:
            last_report, done = now, _epoch + 1
            left = f", ~{duration((now - t0) / done * (epochs - done))} left" if done < epochs else ""
            report(f"train {desc}: epoch {done}/{epochs}, loss {res.train_loss[-1]:.3f}, acc {res.train_acc[-1]:.3f}, "
                   f"{duration(now - t0)} elapsed{left}")
    bar.close()
    model.eval()
    res.seconds = time.perf_counter() - t0
    if x_test is not None and y_test is not None:
        res.test_acc = evaluate(model, x_test, y_test)
    return res
