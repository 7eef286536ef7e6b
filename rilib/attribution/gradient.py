"""Loss-gradient attributions of Kim et al. (2019), Sec 3.2, and the random baseline of their ROAR / KAR scores.

``loss_gradient``           g_G(x)  = ∇ₓ ℓ(x, c): the gradient of the per-example cross-entropy at class ``c``
                            (default: the predicted class), Kim et al. (2019) eq. for g_G;
``loss_input_x_gradient``   g_GX(x) = x̃ ⊙ ∇_x̃ ℓ, "Gradient * Input" on the input x̃ = a·x + b
                            (``input_map=(a, b)``); Kim et al. compute it on images in [−1, 1], i.e. ``(2, −1)``
                            for our data in [0, 1], since a black background is 0 in [0, 1] and would zero GX there;
``random``                  uniform noise from a ``torch.Generator``, independent of the model (g_Rand, the
                            baseline of Kim et al. 2019 Sec 3.2 and Hooker et al. 2019).

All input gradients go through :func:`rilib.gradients.input_grad` (``objective="loss"``: the per-example loss, no
1/B factor of a batch mean).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..gradients import input_grad
from .registry import register

__all__: list[str] = []


@register("loss_gradient")
def loss_gradient(model, x: Tensor, target) -> Tensor:
    """∇ₓ of the cross-entropy loss at ``target`` (Kim et al. 2019, g_G)."""
    return input_grad(model, x, target, objective="loss")


@register("loss_input_x_gradient")
def loss_input_x_gradient(model, x: Tensor, target, *, input_map: tuple[float, float] = (1.0, 0.0)) -> Tensor:
    """(a·x + b) ⊙ ∇_{a·x+b} loss = (a·x + b) ⊙ ∇ₓ loss / a (Kim et al. 2019, g_GX).

    ``input_map=(a, b)``: the attribution is that of the same network seen as a function of x̃ = a·x + b; by the chain
    rule ∇_x̃ ℓ = ∇ₓ ℓ / a. Kim et al. use images in [−1, 1]: ``(2, −1)`` for inputs in [0, 1].
    """
    a, b = (float(v) for v in input_map)
    if a == 0:
        raise ValueError("input_map=(a, b) needs a != 0 (x̃ = a·x + b must be invertible)")
    g = input_grad(model, x, target, objective="loss")
    return (a * x + b) * g / a


@register("random", batched=False)
def random_baseline(model, x: Tensor, target, *, generator: torch.Generator | None = None) -> Tensor:
    """Uniform noise in [0, 1) of the shape of ``x``, drawn on the CPU from ``generator`` (the global RNG when None);
    the model and target are ignored (g_Rand of Kim et al. 2019)."""
    return torch.rand(x.shape, generator=generator, dtype=x.dtype if x.dtype.is_floating_point else None)
