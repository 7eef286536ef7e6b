"""The attribution entry point of the book: ``attribute(model, x, method=..., target=..., **options)``.

One function, many methods, in the spirit of Captum's ``Method(forward_func).attribute(inputs, target=…)``: dim 0 is
the batch, the model runs on its own device, the batch is split into chunks of ``batch_size`` examples, and each
example's attribution is the same alone as in any batch (tested). Methods live in a registry
(:mod:`rilib.attribution.registry`); a chapter adds its own with :func:`register` in a submodule imported below.

Registered now (:mod:`rilib.attribution.gradient`, :mod:`~rilib.attribution.smoothgrad`,
:mod:`~rilib.attribution.paths`; every method's map is signed — pass ``abs=False`` to keep the sign):

==========================  ============================================================================
``loss_gradient``           g_G = |∇ₓ ℓ(x, c)|, Kim et al. (2019) Sec 3.2 (``abs=False`` for the signed map)
``loss_input_x_gradient``   g_GX = |x̃ ⊙ ∇_x̃ ℓ| on x̃ = a·x + b (``input_map=(a, b)``; Kim et al.: ``(2, −1)``)
``random``                  g_Rand, uniform noise from ``generator=torch.Generator``, independent of the model
``saliency``                ∇ₓ z_c(x), the logit gradient (SM)
``smoothgrad``              SmoothGrad (``n``, ``sigma``, ``abs_each``, ``seed``), Noack et al. (2021) eq. (4)
``integrated_gradients``    IG (Captum), ``baseline`` (0 black, 1 white, or a tensor), ``n_steps``, trapezoid
``input_x_gradient``        x ⊙ ∇ₓ z_c (Captum ``InputXGradient``; Wang et al.'s GTI)
``deeplift``                DeepLIFT, rescale rule (Captum ``DeepLift``), ``baseline``
``bsm``                     ∇ z_c at the boundary point ``boundary`` (Wang et al. 2022, BSM)
``big``                     IG from the boundary point ``boundary`` to x (Wang et al. 2022 eq. (5), BIG)
``agi``                     Adversarial Gradient Integration (Pan et al. 2021): ``eps``, ``max_iter``, ``n_targets``
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
from . import paths as _paths  # noqa: F401 - registers IG, BIG, BSM, AGI, grad×input, DeepLIFT
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


def _chunk_option(name: str, value: Any, n: int, lo: int, hi: int, dev: torch.device) -> Any:
    """Rows ``lo:hi`` of a per-example option (one row per example), on ``dev``; a number or a tensor of batch size
    1 is shared by all."""
    if not isinstance(value, Tensor):
        return value
    if value.dim() == 0 or value.shape[0] == 1:
        return value.to(dev)
    if value.shape[0] != n:
        raise ValueError(f"option {name!r} must have one row per example ({n}) or one row for all, got shape "
                         f"{tuple(value.shape)}")
    return value[lo:hi].to(dev)


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
            opts = {k: (_chunk_option(k, v, n, lo, hi, dev) if k in m.per_example else v) for k, v in options.items()}
            a = m.fn(model, x[lo:hi].to(dev), _chunk_target(target, n, lo, hi), **opts)
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
