"""Path and boundary attributions: Integrated Gradients and its boundary variant, the boundary saliency map, AGI, and
Captum's grad×input and DeepLIFT (Wang et al. 2022, Sec 2 and 4; Pan et al. 2021).

``integrated_gradients``  IG(x) = (x − x_b) ⊙ ∫₀¹ ∇ z_c(x_b + t(x − x_b)) dt (Wang et al. Def. 2.2), Captum's
                          ``IntegratedGradients`` with the trapezoid rule (``method="riemann_trapezoid"``) over
                          ``n_steps`` points (the paper: 20), its weights corrected to sum to 1 (Captum's sum to
                          (n − 1)/n); ``baseline`` 0 (black), 1 (white) or a tensor.
``big``                   BIG(x) = IG with the boundary point x′ as baseline, target = the class of x (Def. 4.2):
                          Σ BIG = z_c(x) − z_c(x′) up to the quadrature's error. ``boundary`` holds x′ per example.
``bsm``                   BSM(x) = ∇ z_c(x′), c the class of x (Def. 4.1).
``input_x_gradient``      x ⊙ ∇ z_c(x) (Captum ``InputXGradient``; the paper's GTI).
``deeplift``              DeepLIFT, rescale rule (Captum ``DeepLift``; needs ReLU modules that are neither in-place nor
                          reused), ``baseline`` as IG's.
``agi``                   Adversarial Gradient Integration (Pan et al. 2021, Algorithm 1, as published): for each of
                          the chosen classes t ≠ c, a path x₀ = x, x_{k+1} = clip(x_k + ε·sign ∇p_t(x_k)) to [0, 1]
                          (p = softmax of the logits, applied once), at most ``max_iter`` steps, stopped once the
                          prediction is t; the attribution Σ_t Σ_k −∇p_c(x_k) ⊙ (x_{k+1} − x_k). The authors'
                          code restarts every step from x₀ and applies softmax twice in its quantitative script;
                          neither is reproduced here.

All maps are signed and per channel; :func:`rilib.attribution.attribute` batches them (one row of ``boundary`` per
example) and takes absolute values or channel sums only when asked.
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor

from ..gradients import input_grad
from .registry import register

# Captum's Integrated Gradients imports tqdm.auto, which, in a notebook kernel without ipywidgets, writes an
# "IProgress not found" warning into the page; imported here once, quietly, the later import finds it loaded.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import tqdm.auto  # noqa: F401

__all__ = ["agi_targets"]


def _classes(model, x: Tensor, target) -> Tensor:
    """One class per example: ``target`` as given, or the class predicted at ``x`` when None."""
    if target is None:
        with torch.no_grad():
            return model(x).argmax(1)
    if isinstance(target, Tensor):
        return target.to(x.device).long().expand(x.shape[0]) if target.dim() == 0 else target.to(x.device).long()
    return torch.full((x.shape[0],), int(target), dtype=torch.long, device=x.device)


def _baseline(x: Tensor, baseline) -> Tensor:
    if isinstance(baseline, Tensor):
        return baseline.to(device=x.device, dtype=x.dtype).expand_as(x)
    return torch.full_like(x, float(baseline))


@register("integrated_gradients", per_example=("baseline",))
def integrated_gradients(model, x: Tensor, target, *, baseline: float | Tensor = 0.0, n_steps: int = 20,
                         captum_weights: bool = False) -> Tensor:
    """IG from ``baseline`` to x, trapezoid rule over ``n_steps`` points (Captum; Wang et al. Def. 2.2).

    Captum's ``riemann_trapezoid`` gives the end points weight 1/(2n) and the others 1/n, so its weights sum to
    (n − 1)/n instead of 1 (every map 5 % short at the paper's 20 points, completeness off by as much). The map is
    rescaled by n/(n − 1), which makes the weights the trapezoid rule's; ``captum_weights=True`` keeps Captum's
    (what the paper's code computed)."""
    from captum.attr import IntegratedGradients

    if n_steps < 2:
        raise ValueError(f"integrated_gradients needs n_steps >= 2 (the trapezoid rule's end points), got {n_steps}")
    c = _classes(model, x, target)
    out = IntegratedGradients(model).attribute(x, baselines=_baseline(x, baseline), target=c, n_steps=int(n_steps),
                                               method="riemann_trapezoid")
    return out if captum_weights else out * (n_steps / (n_steps - 1))


@register("big", per_example=("boundary",))
def big(model, x: Tensor, target, *, boundary: Tensor, n_steps: int = 20, captum_weights: bool = False) -> Tensor:
    """Boundary-based Integrated Gradients: IG from the boundary point x′ (``boundary``) to x for the class of x
    (Wang et al. 2022 Def. 4.2)."""
    return integrated_gradients(model, x, _classes(model, x, target), baseline=boundary, n_steps=n_steps,
                                captum_weights=captum_weights)


@register("bsm", per_example=("boundary",))
def bsm(model, x: Tensor, target, *, boundary: Tensor) -> Tensor:
    """Boundary-based saliency map: ∇ z_c at the boundary point x′, c the class of x (Wang et al. 2022 Def. 4.1)."""
    c = _classes(model, x, target)
    return input_grad(model, boundary.to(device=x.device, dtype=x.dtype), c, objective="logit")


@register("input_x_gradient")
def input_x_gradient(model, x: Tensor, target) -> Tensor:
    """x ⊙ ∇ₓ z_c(x) (Captum ``InputXGradient``)."""
    from captum.attr import InputXGradient

    return InputXGradient(model).attribute(x, target=_classes(model, x, target))


@register("deeplift", per_example=("baseline",))
def deeplift(model, x: Tensor, target, *, baseline: float | Tensor = 0.0) -> Tensor:
    """DeepLIFT with the rescale rule from ``baseline`` (Captum ``DeepLift``)."""
    from captum.attr import DeepLift

    return DeepLift(model).attribute(x, baselines=_baseline(x, baseline), target=_classes(model, x, target))


def agi_targets(c: Tensor, n_classes: int, n_targets: int | None) -> Tensor:
    """(B, k) the classes AGI walks towards for true classes ``c``: every other class when ``n_targets`` is None,
    else ``n_targets`` of them at evenly spaced positions of the other classes in id order (the authors' code picks
    evenly spaced class ids)."""
    others = torch.stack([torch.cat([torch.arange(0, int(ci)), torch.arange(int(ci) + 1, n_classes)])
                          for ci in c.cpu()]) if c.numel() else torch.empty(0, n_classes - 1, dtype=torch.long)
    k = n_classes - 1 if n_targets is None else int(n_targets)
    if not 1 <= k <= n_classes - 1:
        raise ValueError(f"agi needs 1 <= n_targets <= {n_classes - 1} (the other classes), got {n_targets}")
    pos = torch.linspace(0, n_classes - 2, k).round().long()
    return others[:, pos].to(c.device)


def _prob(logits: Tensor, t: Tensor) -> Tensor:
    return torch.softmax(logits, 1).gather(1, t[:, None]).squeeze(1)


@register("agi")
def agi(model, x: Tensor, target, *, eps: float = 0.05, max_iter: int = 15, n_targets: int | None = None,
        bounds: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """Adversarial Gradient Integration (Pan et al. 2021, Algorithm 1; see the module docstring): Σ over the chosen
    classes t of Σ_k −∇p_c(x_k) ⊙ (x_{k+1} − x_k) along x_{k+1} = clip(x_k + ε·sign ∇p_t(x_k))."""
    c = _classes(model, x, target)
    with torch.no_grad():
        n_classes = model(x[:1]).shape[1]
    lo, hi = (float(b) for b in bounds)
    total = torch.zeros_like(x)
    for t in agi_targets(c, n_classes, n_targets).T:
        xk = x.detach().clone()
        active = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        for _ in range(int(max_iter)):
            g_t, logits = input_grad(model, xk, t, objective=_prob, return_logits=True)
            active &= logits.argmax(1) != t  # stopped once the prediction reached t
            if not active.any():
                break
            g_c = input_grad(model, xk, c, objective=_prob)
            step = torch.where(active.view(-1, *[1] * (x.dim() - 1)), float(eps) * g_t.sign(), torch.zeros_like(x))
            nxt = (xk + step).clamp(lo, hi)
            total += -g_c * (nxt - xk)
            xk = nxt
    return total
