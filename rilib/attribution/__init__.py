"""The attribution entry point of the book: ``attribute(model, x, method=..., target=..., **options)``.

One function, many methods, in the spirit of Captum's ``Method(forward_func).attribute(inputs, target=…)``: dim 0 is
the batch, the model runs on its own device, the batch is split into chunks of ``batch_size`` examples, and each
example's attribution is the same alone as in any batch (tested). Methods live in a registry
(:mod:`rilib.attribution.registry`); a chapter adds its own with :func:`register` in a submodule imported below.

Registered now (:mod:`rilib.attribution.gradient`):

==========================  ============================================================================
``loss_gradient``           g_G = |∇ₓ ℓ(x, c)|, Kim et al. (2019) Sec 3.2 (``abs=False`` for the signed map)
``loss_input_x_gradient``   g_GX = |x̃ ⊙ ∇_x̃ ℓ| on x̃ = a·x + b (``input_map=(a, b)``; Kim et al.: ``(2, −1)``)
``random``                  g_Rand, uniform noise from ``generator=torch.Generator``, independent of the model
==========================  ============================================================================

The model must already be in eval mode (``model.eval()``) — that is the caller's job; BatchNorm layers in training
mode are refused (:func:`rilib.gradients.check_batch_independent`), dropout in training mode is not detected and
would make the maps random.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from rilib.attribution import attribute
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).eval()
>>> x = torch.rand(5, 1, 2, 2)
>>> attribute(model, x, method="loss_input_x_gradient", input_map=(2, -1)).shape
torch.Size([5, 1, 2, 2])
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..gradients import check_batch_independent
from . import gradient as _gradient  # noqa: F401 - registers the loss-gradient methods and the random baseline
from . import smoothgrad as _smoothgrad  # noqa: F401 - registers saliency and SmoothGrad
from .registry import METHODS, Method, get_method, register

__all__ = ["attribute", "register", "get_method", "Method", "METHODS", "available"]


def available() -> tuple[str, ...]:
    """The names of the registered methods."""
    return tuple(sorted(METHODS))


def _device(model: Any, x: Tensor) -> torch.device:
    """The device of the model's first parameter (or buffer); ``x``'s device for a model without any."""
    if isinstance(model, nn.Module):
        for t in model.parameters():
            return t.device
        for t in model.buffers():
            return t.device
    return x.device


def _chunk_target(target: Any, n: int, lo: int, hi: int) -> Any:
    """The part of ``target`` (None, an int, or one class per example) for examples ``lo:hi``."""
    if target is None or isinstance(target, int):
        return target
    t = torch.as_tensor(target)
    if t.dim() == 0:
        return int(t)
    if t.dim() != 1 or t.shape[0] != n:
        raise ValueError(f"target must be None, an int or one class per example (shape ({n},)), got shape "
                         f"{tuple(t.shape)}")
    return t[lo:hi]


def attribute(model: nn.Module | Any, x: Tensor, *, method: str, target: int | Tensor | None = None,
              abs: bool = True, channel_sum: bool = True, batch_size: int = 256, **options: Any) -> Tensor:
    """Attribution maps of ``x`` for ``model`` with the registered ``method``.

    Parameters
    ----------
    model
        Maps a batch (B, ...) to logits (B, C), in eval mode (the caller's job, see the module docstring). Ignored
        by methods that do not run it (``random``; may be None there).
    x
        Input batch (B, C, H, W) or (B, D). Chunks are moved to the model's device; the result is on ``x``'s device.
    method
        A registered name (:func:`available`).
    target
        The class attributed: None (default) the predicted class of each example, an int for all, or a (B,) tensor
        of one class per example.
    abs
        Take the absolute value of the signed map (Kim et al.'s |∇ₓ ℓ| and |x ⊙ ∇ₓ ℓ|).
    channel_sum
        Then sum over the channel axis (dim 1) of an image batch, keeping it: (B, C, H, W) → (B, 1, H, W), which
        broadcasts against ``x``. Ignored for inputs (B, D) without a channel axis.
    batch_size
        Examples per forward/backward pass.
    options
        The method's own options: ``input_map=(a, b)`` for ``loss_input_x_gradient``, ``generator=`` for
        ``random``. Unknown options raise ``TypeError``.

    Returns
    -------
    Tensor
        (B, 1, H, W) with ``channel_sum`` (else the shape of ``x``), in ``x``'s dtype, on ``x``'s device.
    """
    m = get_method(method)
    unknown = sorted(set(options) - set(m.options))
    if unknown:
        accepted = ", ".join(m.options) or "none"
        raise TypeError(f"attribution method {method!r} got unknown option(s) {', '.join(unknown)}; it accepts: "
                        f"{accepted} (plus target, abs, channel_sum, batch_size)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = x.shape[0]
    if m.batched:
        if isinstance(model, nn.Module):
            check_batch_independent(model)
        dev = _device(model, x)
        parts = []
        for lo in range(0, n, batch_size):
            hi = min(n, lo + batch_size)
            a = m.fn(model, x[lo:hi].to(dev), _chunk_target(target, n, lo, hi), **options)
            parts.append(a.detach().to(x.device))
        out = torch.cat(parts) if parts else torch.zeros_like(x)
    else:
        _chunk_target(target, n, 0, n)  # validate it all the same
        out = m.fn(model, x, target, **options).detach().to(device=x.device, dtype=x.dtype)
    if tuple(out.shape) != tuple(x.shape):
        raise RuntimeError(f"attribution method {method!r} returned shape {tuple(out.shape)} for input "
                           f"{tuple(x.shape)}")
    if abs:
        out = out.abs()
    if channel_sum and out.dim() >= 3:
        out = out.sum(1, keepdim=True)
    return out
