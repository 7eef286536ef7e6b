"""The one input-gradient helper of rilib: ∇ₓ of a per-example scalar, batched, optionally differentiable again.

Every gradient the book takes with respect to an input goes through :func:`input_grad`: the saliency maps and
all-class gradients of the geometry kernel (Etmann et al. 2019, eqs. 7, 9, 11), the double-backprop, Jacobian and
interpretation penalties of the training regimes (``create_graph=True``, as zennit's attributors do), the gradient
of a 2-class margin for the decision-boundary normal (Kim et al. 2019, Fig 3) and, later, the attribution methods.

For a batch whose examples do not interact (no BatchNorm in training mode), the gradient of the *batch sum* of a
per-example scalar with respect to the batch is each example's own gradient, so one backward pass serves the
whole batch; K target columns cost K backward passes over one shared forward pass.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["input_grad", "check_batch_independent", "Objective"]

#: what is differentiated per example: a logit, the cross-entropy loss, or any ``f(logits, target) -> (B,)``
Objective = Union[Literal["logit", "loss"], Callable[[Tensor, Tensor], Tensor]]


def check_batch_independent(model: nn.Module) -> None:
    """Raise ``ValueError`` if examples of a batch would influence each other's outputs.

    That is the case for a BatchNorm layer in training mode, and for one without running statistics
    (``track_running_stats=False``), which normalises with batch statistics even in eval mode.
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            if module.training:
                raise ValueError(
                    f"BatchNorm layer {name!r} is in training mode: examples in a batch interact, so the per-class "
                    "gradients of summed logits are not per-example gradients. Call model.eval() first."
                )
            if module.running_mean is None or module.running_var is None:
                raise ValueError(
                    f"BatchNorm layer {name!r} has no running statistics (track_running_stats=False) and normalises "
                    "with batch statistics even in eval mode, so examples in a batch interact."
                )


def _targets(target, logits: Tensor) -> Tensor:
    """``target`` as an int64 (B, K) tensor of class indices."""
    b, c = logits.shape
    if target is None:
        idx = logits.detach().argmax(1, keepdim=True)
    elif isinstance(target, str):
        if target != "all":
            raise ValueError(f"target must be None, 'all', an int or class indices, not {target!r}")
        idx = torch.arange(c, device=logits.device).expand(b, -1)
    else:
        idx = torch.as_tensor(target, device=logits.device)
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise TypeError(f"classes must be integer indices, got dtype {idx.dtype}")
        idx = idx.to(torch.int64)
        if idx.dim() == 0:
            idx = idx.reshape(1, 1).expand(b, 1)
        elif idx.dim() == 1:
            idx = idx.unsqueeze(1) if idx.shape[0] == b else idx.unsqueeze(0).expand(b, -1)
        if idx.dim() != 2 or idx.shape[0] != b:
            raise ValueError(f"classes must have shape (K,) or (B, K) with B={b}, got {tuple(idx.shape)}")
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= c):
        raise ValueError(f"class indices must lie in [0, {c}), got {idx.min().item()}..{idx.max().item()}")
    return idx


def input_grad(
    model: nn.Module | Callable[[Tensor], Tensor],
    x: Tensor,
    target: int | Sequence[int] | Tensor | Literal["all"] | None = None,
    *,
    objective: Objective = "logit",
    create_graph: bool = False,
    return_logits: bool = False,
    per_column: bool = False,
    strict: bool = True,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Per-example input gradient :math:`\nabla_x s(x)` of a per-example scalar ``s``, for a whole batch.

    Parameters
    ----------
    model
        Maps ``x`` (B, ...) to logits (B, C).
    x
        Input batch. If it already requires grad it is used as is (so ``create_graph=True`` keeps its graph);
        otherwise a detached copy that requires grad is used.
    target
        Which class: ``None`` (default) the predicted class; an int for every example; a (B,) tensor of one class
        per example; a sequence / 1-D tensor of K classes (K ≠ B) or a (B, K) tensor for several per example, or
        ``"all"`` for every class. Several columns return shape (B, K, \*x) (one backward pass per column).
    objective
        ``"logit"`` (:math:`\Psi^c(x)`, the saliency map of Etmann et al. Definition 3), ``"loss"`` (the
        per-example cross-entropy :math:`\ell(x, c)` — not its batch mean, so no 1/B factor), or a callable
        ``f(logits, target_column) -> (B,)`` (e.g. a margin :math:`\Psi^1 - \Psi^0`).
    create_graph
        Keep the graph so the gradient can be differentiated again (double backprop, Jacobian and interpretation
        regularisation). When False the results are detached.
    return_logits
        Also return the logits (one forward pass serves both).
    per_column
        Return (B, K, \*x) even for a single target column.
    strict
        Raise ``ValueError`` when examples of the batch interact (BatchNorm in training mode): then the gradient of
        the batch sum is not each example's own. Training regimes pass ``False``: there the gradient of the
        batch's loss with batch statistics is what the regime penalises (as the papers' code did).

    Returns
    -------
    Tensor, or (Tensor, Tensor) with ``return_logits``
        Gradient of shape ``x.shape`` for one target column (or (B, K, \*x)), and the logits (B, C).
    """
    if strict and isinstance(model, nn.Module):
        check_batch_independent(model)
    with torch.enable_grad():
        xin = x if x.requires_grad else x.detach().requires_grad_(True)
        logits = model(xin)
        if logits.dim() != 2 or logits.shape[0] != x.shape[0]:
            raise ValueError(f"model must return logits of shape (B, C), got {tuple(logits.shape)}")
        idx = _targets(target, logits)
        grads: list[Tensor] = []
        for k in range(idx.shape[1]):
            col = idx[:, k]
            if objective == "logit":
                s = logits.gather(1, col[:, None])
            elif objective == "loss":
                s = F.cross_entropy(logits, col, reduction="none")
            elif callable(objective):
                s = objective(logits, col)
            else:
                raise ValueError(f"objective must be 'logit', 'loss' or a callable, not {objective!r}")
            (g,) = torch.autograd.grad(s.sum(), xin, retain_graph=create_graph or k < idx.shape[1] - 1,
                                       create_graph=create_graph, allow_unused=True)
            grads.append(torch.zeros_like(xin) if g is None else g)  # None: the output does not depend on x
    if len(grads) == 1 and not per_column:
        out = grads[0]
    else:
        out = torch.stack(grads, 1) if grads else x.new_zeros((x.shape[0], 0, *x.shape[1:]))
    if not create_graph:
        out, logits = out.detach(), logits.detach()
    return (out, logits) if return_logits else out
