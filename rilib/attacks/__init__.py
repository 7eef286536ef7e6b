"""One attack entry point.

:func:`attack` runs any attack of the book on a batch and returns, per example, the adversarial input, whether it
succeeded and the L2 / L∞ distance it travelled:

* Foolbox 3 attacks (``"fgm"``, ``"bim"``, ``"pgd"``, ``"cw"``, ``"fmn"``, ``"ddn"``) through a model wrapper that
  is always given the device and the data bounds (Foolbox otherwise quietly picks ``cuda:0``), see
  :mod:`rilib.attacks.foolbox_attacks`;
* ``"gradient"``: a line search along the normalised loss gradient, a variant of Foolbox 1's GradientAttack (the
  "gradient attack" of Etmann et al.), see :func:`rilib.attacks.line_search.gradient_line_search`;
* the in-house :func:`pgd` (``"pgd-train"``, :mod:`rilib.attacks.pgd_train`), which adversarial training uses
  because it needs the CW objective, per-step control and no Foolbox round trips inside the training loop;
* ``"apgd"``: L2 AutoPGD (``loss="ce"`` or ``"dlr"``) from the Adversarial Robustness Toolbox, see
  :mod:`rilib.attacks.apgd`.

:func:`rilib.attacks.boundary.boundary_search` chains several of them into Wang et al.'s boundary search.

Fixed-ε attacks (FGM, BIM, PGD) answer "did an ε-perturbation succeed"; with ``epsilons`` a grid, :func:`attack`
keeps per example the *smallest* successful ε (the ε search Etmann et al. ran around Foolbox 1's attacks), and with
``refine=k`` bisects each example's own bracket k more times (per-example ε). Minimal-norm attacks (CW, FMN, DDN)
answer "how far" directly. A failed attack has distance ``+inf`` (as in the original code: medians count failures
as infinitely robust points) — the notebooks report the failure share beside medians.

Every method gives each example the same answer alone as in any batch (up to float rounding of batched kernels):
see :mod:`rilib.attacks.foolbox_attacks` for how (notably Carlini–Wagner runs with ``abort_early=False``).
Foolbox is imported only when a Foolbox attack runs, never by ``import rilib.attacks``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .foolbox_attacks import FOOLBOX_METHODS, fool_model
from .pgd_train import pgd, project
from .result import AttackResult, check_bounds, eval_mode, frozen, make_result

__all__ = ["AttackResult", "attack", "pgd", "project", "fool_model", "FOOLBOX_METHODS"]


def attack(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    method: str,
    bounds: tuple[float, float],
    epsilons: float | Sequence[float] | None = None,
    device: torch.device | str | None = None,
    batch_size: int = 512,
    refine: int = 0,
    **options,
) -> AttackResult:
    """Attack ``model`` at ``x`` and report, per example, the perturbation found and its size.

    The model runs in eval mode with its parameters out of autograd (:func:`rilib.attacks.result.frozen`: only
    the input's gradient is computed); the caller's train/eval mode (of every submodule) and ``requires_grad`` flags
    are restored on return, and no parameter's ``.grad`` is touched. A point's result does not depend on ``batch_size`` or on the other points of ``x``.

    Parameters
    ----------
    labels
        The class to move away from. ``None`` means the model's own prediction (Etmann et al. attack the
        predicted class: robustness does not depend on the ground truth, Definition 1).
    method
        ``"pgd-train"`` (in-house :func:`pgd`, ``options`` passed through) or a Foolbox L2 attack from
        :data:`FOOLBOX_METHODS`; ``options`` go to the Foolbox attack's constructor (keyword-only configs such as
        ``steps``, ``binary_search_steps``, ``stepsize``, ``initial_const``; ``"pgd"`` also takes ``seed`` for its
        per-example random start). ``"gradient"`` takes ``max_epsilon``, ``scan``, ``bisection``. CW refuses
        ``abort_early=True`` (it would make a point's distance depend on its batch-mates).
    bounds
        The data's value range; ``x`` must lie inside it (``ValueError`` otherwise).
    epsilons
        Fixed-ε attacks: one ε, or a grid, in which case the smallest successful ε per example is kept.
        Minimal-norm attacks (``cw``, ``fmn``, ``ddn``): ``None`` (unbounded).
    refine
        With a grid of ``epsilons``: after the grid, bisect every example's bracket (largest failing, smallest
        successful grid ε) ``refine`` times at that example's own ε, so the reported ε is not quantised to the grid
        (each round costs one attack run per example, like one more grid value).
    """
    if refine and (epsilons is None or isinstance(epsilons, (int, float))):
        raise ValueError("refine needs a grid of epsilons (a list) to start from")
    if method not in ("pgd-train", "apgd") and method not in FOOLBOX_METHODS:
        raise ValueError(f"unknown attack {method!r}; known: 'pgd-train', 'apgd', "
                         f"{', '.join(map(repr, FOOLBOX_METHODS))}")
    check_bounds(x, bounds)
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else x.device
    outs: list[AttackResult] = []
    with eval_mode(model), frozen(model):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size].to(device)
            with torch.no_grad():
                pred = model(xb).argmax(1)
            yb = pred if labels is None else labels[start:start + batch_size].to(device)
            outs.append(_attack_batch(model, xb, yb, method=method, bounds=bounds, epsilons=epsilons,
                                      device=device, refine=refine, options=options))
    cat = lambda name: torch.cat([getattr(o, name) for o in outs])  # noqa: E731
    eps = torch.cat([o.epsilon for o in outs]) if outs[0].epsilon is not None else None
    return AttackResult(cat("x_adv"), cat("success"), cat("l2"), cat("linf"), eps)


def _attack_batch(model, x, y, *, method, bounds, epsilons, device, refine, options) -> AttackResult:
    if method == "pgd-train":
        if epsilons is None or not isinstance(epsilons, (int, float)):
            raise ValueError("method 'pgd-train' needs one float epsilon")
        x_adv = pgd(model, x, y, eps=float(epsilons), bounds=bounds, **options)
        with torch.no_grad():
            success = model(x_adv).argmax(1) != y
        return make_result(x, x_adv, success, None)
    if method == "apgd":
        if epsilons is None or not isinstance(epsilons, (int, float)):
            raise ValueError("method 'apgd' needs one float epsilon (the L2 radius)")
        from .apgd import run_apgd

        return run_apgd(model, x, y, eps=float(epsilons), bounds=bounds, device=device, **options)
    if method == "gradient":
        from .line_search import gradient_line_search

        return gradient_line_search(model, x, y, bounds=bounds, device=device, **options)
    from .foolbox_attacks import run_foolbox

    return run_foolbox(model, x, y, method=method, bounds=bounds, epsilons=epsilons, device=device, refine=refine,
                       options=options)
