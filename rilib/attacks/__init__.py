"""One attack entry point.

:func:`attack` runs any attack of the book on a batch and returns, per example, the adversarial input, whether it
succeeded and the L2 / L∞ distance it travelled:

* Foolbox 3 attacks (``"fgm"``, ``"bim"``, ``"pgd"``, ``"cw"``, ``"fmn"``, ``"ddn"``) through a model wrapper that
  is always given the device and the data bounds (Foolbox otherwise quietly picks ``cuda:0``);
* ``"gradient"``: Foolbox 1's GradientAttack (Etmann et al.'s "gradient attack"), a line search along the
  normalised loss gradient (direction from Foolbox 3's fast-gradient attack), see :func:`_gradient_line_search`;
* the in-house :func:`pgd` (``"pgd-train"``), which adversarial training uses because it needs the CW objective,
  per-step control and no Foolbox round trips inside the training loop.

Fixed-ε attacks (FGM, BIM, PGD) answer "did an ε-perturbation succeed"; with ``epsilons`` a grid, :func:`attack`
keeps per example the *smallest* successful ε (the ε search Etmann et al. ran around Foolbox 1's attacks), and with
``refine=k`` bisects each example's own bracket k more times (per-example ε, see :func:`_refine`). Minimal-
norm attacks (CW, FMN, DDN) answer "how far" directly. A failed attack has distance ``+inf`` (as in the original
code: medians count failures as infinitely robust points) — the notebooks report the failure share beside medians.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Literal, Sequence

import torch
from torch import nn
import torch.nn.functional as F

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

__all__ = ["AttackResult", "attack", "pgd", "project", "fool_model", "FOOLBOX_METHODS"]

Norm = Literal["l2", "linf"]


def _flat_norm(v: torch.Tensor, norm: Norm) -> torch.Tensor:
    v = v.flatten(1)
    return v.norm(dim=1) if norm == "l2" else v.abs().amax(dim=1)


def _view(s: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return s.view(-1, *([1] * (like.dim() - 1)))


def project(delta: torch.Tensor, eps: float, norm: Norm) -> torch.Tensor:
    """Euclidean projection of each perturbation in ``delta`` onto the ``norm``-ball of radius ``eps``."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = _flat_norm(delta, "l2")
    factor = torch.where(n > eps, eps / n.clamp_min(1e-12), torch.ones_like(n))
    return delta * _view(factor, delta)


def _objective(logits: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-example quantity the attacker ascends."""
    if loss == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    if loss == "cw":
        # Carlini–Wagner margin max_{j≠y} z_j − z_y. Kim et al.'s code uses −relu(z_y − max_j z_j + 500); with that
        # large confidence the ReLU never clips, so it is this margin.
        true = logits.gather(1, y[:, None]).squeeze(1)
        other = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
        return other - true
    raise ValueError(f"unknown attack objective {loss!r}: use 'ce' or 'cw'")


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: Norm = "l2",
    steps: int = 40,
    step_size: float | None = None,
    loss: str = "ce",
    random_start: bool = False,
    bounds: tuple[float, float] = (0.0, 1.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient ascent of the loss in the ``eps``-ball (Madry et al. 2018; Kurakin et al. 2016).

    L2 steps move ``step_size`` along the normalised gradient (as in Kim et al.'s code), L∞ steps along its sign.
    After each step the perturbation is projected onto the ε-ball and the input clipped to ``bounds`` (clipping
    only shrinks each coordinate of the perturbation, so the result stays in both sets). ``step_size`` defaults to
    ``2.5 * eps / steps``. The model's train/eval mode is left as it is; gradients of the parameters are untouched.
    """
    if eps <= 0:
        return x.detach().clone()
    lo, hi = bounds
    step = 2.5 * eps / steps if step_size is None else step_size
    x = x.detach()
    if random_start:
        if norm == "linf":
            delta = (torch.rand(x.shape, generator=generator, device="cpu").to(x) * 2 - 1) * eps
        else:
            d = torch.randn(x.shape, generator=generator, device="cpu").to(x)
            d = d / _view(_flat_norm(d, "l2").clamp_min(1e-12), d)
            r = torch.rand(x.shape[0], generator=generator, device="cpu").to(x) ** (1.0 / x[0].numel())
            delta = d * _view(r * eps, d)
        delta = (x + delta).clamp(lo, hi) - x
    else:
        delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        with torch.enable_grad():
            obj = _objective(model(x + delta), y, loss).sum()
            (grad,) = torch.autograd.grad(obj, delta)
        with torch.no_grad():
            if norm == "linf":
                delta = delta + step * grad.sign()
            else:
                delta = delta + step * grad / _view(_flat_norm(grad, "l2").clamp_min(1e-12), grad)
            delta = project(delta, eps, norm)
            delta = (x + delta).clamp(lo, hi) - x
    return (x + delta).detach()


def fool_model(model: nn.Module, *, bounds: tuple[float, float], device: torch.device | str | None = None):
    """Foolbox ``PyTorchModel`` with explicit bounds and device (the model is put in eval mode)."""
    import foolbox as fb

    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    return fb.PyTorchModel(model.eval(), bounds=bounds, device=device)


FOOLBOX_METHODS = ("fgm", "bim", "pgd", "cw", "fmn", "ddn", "gradient")


def _foolbox_attack(method: str, **kw):
    import foolbox as fb

    table = {
        "fgm": fb.attacks.L2FastGradientAttack,
        "bim": fb.attacks.L2BasicIterativeAttack,
        "pgd": fb.attacks.L2ProjectedGradientDescentAttack,
        "cw": fb.attacks.L2CarliniWagnerAttack,
        "fmn": fb.attacks.L2FMNAttack,
        "ddn": fb.attacks.DDNAttack,
    }
    return table[method](**kw)


@dataclass
class AttackResult:
    """Per-example outcome of :func:`attack`."""

    x_adv: torch.Tensor
    success: torch.Tensor  # bool (B,)
    l2: torch.Tensor  # ‖x_adv − x‖₂, +inf where the attack failed
    linf: torch.Tensor
    epsilon: torch.Tensor | None = None  # smallest successful ε of a grid search (+inf if none)

    @property
    def failure_rate(self) -> float:
        return float((~self.success).float().mean())


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

    Parameters
    ----------
    labels
        The class to move away from. ``None`` means the model's own prediction (Etmann et al. attack the
        predicted class: robustness does not depend on the ground truth, Definition 1).
    method
        ``"pgd-train"`` (in-house :func:`pgd`, ``options`` passed through) or a Foolbox L2 attack from
        :data:`FOOLBOX_METHODS`; ``options`` go to the Foolbox attack's constructor (keyword-only configs such as
        ``steps``, ``binary_search_steps``, ``abort_early``).
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
    model = model.eval()
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else x.device
    outs: list[AttackResult] = []
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size].to(device)
        with torch.no_grad():
            pred = model(xb).argmax(1)
        yb = pred if labels is None else labels[start:start + batch_size].to(device)
        outs.append(_attack_batch(model, xb, yb, method=method, bounds=bounds, epsilons=epsilons, device=device,
                                  refine=refine, options=options))
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
        return _result(x, x_adv, success, None)
    if method == "gradient":
        return _gradient_line_search(model, x, y, bounds=bounds, device=device, **options)
    if method not in FOOLBOX_METHODS:
        raise ValueError(f"unknown attack {method!r}; known: 'pgd-train', {', '.join(map(repr, FOOLBOX_METHODS))}")
    import foolbox as fb

    fmodel = fool_model(model, bounds=bounds, device=device)
    att = _foolbox_attack(method, **options)
    crit = fb.criteria.Misclassification(y)
    if epsilons is None or isinstance(epsilons, (int, float)):
        _, clipped, success = att(fmodel, x, crit, epsilons=epsilons)
        return _result(x, clipped, success, None)
    eps_list = sorted(float(e) for e in epsilons)
    _, clipped, success = att(fmodel, x, crit, epsilons=eps_list)  # lists over ε, success (n_eps, B)
    success = torch.as_tensor(success)
    any_success = success.any(0)
    first = torch.where(any_success, success.float().argmax(0), torch.full_like(any_success, len(eps_list) - 1,
                                                                                  dtype=torch.long))
    stacked = torch.stack(list(clipped))  # (n_eps, B, ...)
    x_adv = stacked[first, torch.arange(x.shape[0], device=stacked.device)]
    eps_t = torch.tensor(eps_list, device=x.device)[first]
    if refine > 0 and any_success.any():
        lower = torch.where(first > 0, torch.tensor(eps_list, device=x.device)[(first - 1).clamp_min(0)],
                            torch.zeros_like(eps_t))
        x_adv, eps_t = _refine(lambda xs, ys, e: att(fmodel, xs, fb.criteria.Misclassification(ys), epsilons=e),
                               x, y, x_adv, lower, eps_t, any_success, rounds=refine)
    eps_t = torch.where(any_success, eps_t, torch.full_like(eps_t, float("inf")))
    return _result(x, x_adv, any_success, eps_t)


def _refine(run, x, y, x_adv, lower, upper, active, *, rounds: int):
    """Per-example bisection of the smallest successful ε of a fixed-ε attack.

    Each example ``i`` with ``active[i]`` has a failing ``lower[i]`` (0 for "below the grid") and a successful
    ``upper[i]`` with its adversarial point ``x_adv[i]``. A round tries every example at the midpoint of its own
    bracket (geometric, arithmetic when ``lower`` is 0) and keeps the half that contains the success boundary.
    Foolbox attacks take one ε per call, so the examples that share a midpoint are attacked together: every round is
    one attack run per example, however many calls that takes. ``run(x, y, eps) -> (raw, clipped, success)``.
    """
    lower, upper, x_adv = lower.clone(), upper.clone(), x_adv.clone()
    idx_all = torch.nonzero(active).flatten()
    for _ in range(rounds):
        mid = torch.where(lower > 0, (lower * upper).sqrt(), upper / 2)
        for m in torch.unique(mid[idx_all]):
            idx = idx_all[mid[idx_all] == m]
            _, clipped, success = run(x[idx], y[idx], float(m))
            success = torch.as_tensor(success).to(x.device).bool()
            clipped = torch.as_tensor(clipped).to(x.device)
            hit, miss = idx[success], idx[~success]
            upper[hit] = m
            x_adv[hit] = clipped[success]
            lower[miss] = m
    return x_adv, upper


def _gradient_line_search(model, x, y, *, bounds, device, max_epsilon: float | None = None, scan: int = 32,
                          bisection: int = 30) -> AttackResult:
    """Foolbox 1's ``GradientAttack`` (used by Etmann et al.): a line search along the loss gradient direction.

    The direction is Foolbox 3's L2 fast-gradient step taken at a tiny ε (so clipping at the data bounds shapes it
    as in Foolbox), normalised. Along ``x + ε·u`` (clipped to ``bounds``) we scan ``scan`` geometric ε values up to
    ``max_epsilon`` (default: the diameter of the data box) for the first success, then bisect that bracket
    ``bisection`` times. The result is the smallest successful ε on the line, to ~1e-9 relative precision
    (the bracket of a 32-value scan over 6 decades is ×1.56 wide; 30 halvings shrink it by 2^-30).
    """
    import foolbox as fb

    lo, hi = bounds
    fmodel = fool_model(model, bounds=bounds, device=device)
    tiny = 1e-4 * (hi - lo)
    raw, _, _ = fb.attacks.L2FastGradientAttack(random_start=False)(fmodel, x, fb.criteria.Misclassification(y),
                                                                     epsilons=tiny)
    u = torch.as_tensor(raw).to(x.device) - x
    u = u / _view(_flat_norm(u, "l2").clamp_min(1e-30), u)
    eps_max = max_epsilon if max_epsilon is not None else (hi - lo) * x[0].numel() ** 0.5
    grid = torch.logspace(math.log10(eps_max) - 6, math.log10(eps_max), scan, device=x.device, dtype=x.dtype)

    def fooled(eps: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model((x + _view(eps, x) * u).clamp(lo, hi)).argmax(1) != y

    first = torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
    for k in range(scan):
        ok = fooled(grid[k].expand(x.shape[0])) & (first < 0)
        first[ok] = k
    success = first >= 0
    upper = grid[first.clamp_min(0)]
    lower = torch.where(first > 0, grid[(first - 1).clamp_min(0)], torch.zeros_like(upper))
    for _ in range(bisection):
        mid = (lower + upper) / 2
        ok = fooled(mid)
        upper = torch.where(ok, mid, upper)
        lower = torch.where(ok, lower, mid)
    eps = torch.where(success, upper, torch.full_like(upper, float("inf")))
    x_adv = (x + _view(torch.where(success, upper, torch.zeros_like(upper)), x) * u).clamp(lo, hi)
    return _result(x, x_adv, success, eps)


def _result(x, x_adv, success, eps) -> AttackResult:
    success = torch.as_tensor(success).to(x.device).bool()
    x_adv = torch.as_tensor(x_adv).to(x.device).detach()
    inf = torch.full((x.shape[0],), float("inf"), device=x.device)
    d = x_adv - x
    l2 = torch.where(success, _flat_norm(d, "l2"), inf)
    linf = torch.where(success, _flat_norm(d, "linf"), inf)
    return AttackResult(x_adv.cpu(), success.cpu(), l2.cpu(), linf.cpu(), None if eps is None else eps.cpu())
