"""The boundary search of Wang et al. (2022, App. B.2): per example the closest adversarial example an ensemble of
attacks finds, stage by stage — the boundary point x′ of BSM and BIG.

Stages (each one attack of :func:`rilib.attacks.attack`; per example the closest *successful* point so far is kept):

``pgd``    Foolbox L2 PGD over an ascending ε ladder, keeping the first (smallest) rung that succeeds — also the
           boundary point of BIGp. Step ``2ε/steps`` absolute at every rung (``rel_stepsize = 2/steps``): what the
           paper's ``rel_stepsize=2ε/steps`` meant; as written it was a fraction of ε, an absolute step 2ε²/steps.
``cw``     Foolbox L2 Carlini–Wagner (minimal norm); its result counts only within the acceptance radius ``eps``
           (the paper's CW "ε").
``apgd``   APGD-CE and APGD-DLR (ART) at radius ``eps``; fixed-radius attacks, so they can only help where the
           earlier stages failed or found a farther point.
``bisect`` (ours, not the paper's) ``steps`` halvings along the segment [x, x′] to the first point that is still
           adversarial: x′ moves onto the boundary itself (a fixed-ε PGD point lies on its ε-sphere, not on it).

Where no stage succeeds the point is the PGD output at the largest rung (not adversarial), as the paper does; it is
counted (``success`` False). Each stage's wall time is recorded (Table 5's per-instance time column).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .result import check_bounds, eval_mode

__all__ = ["BoundaryResult", "boundary_search", "STAGES"]

STAGES = ("pgd", "cw", "apgd", "bisect")


@dataclass
class BoundaryResult:
    """Per example: ``x_boundary`` (the closest point found by all stages run), ``success``; ``x_pgd`` (the PGD
    ladder's point, BIGp's); per stage run, in order: ``l2[stage]`` (B,) the distance of the closest point after
    that stage (+inf where none), ``success[stage]``, ``seconds[stage]`` (wall time of the stage for the batch)."""

    x_boundary: torch.Tensor
    x_pgd: torch.Tensor
    success: torch.Tensor
    l2: dict[str, torch.Tensor] = field(default_factory=dict)
    stage_success: dict[str, torch.Tensor] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _adversarial(model, x: torch.Tensor, y: torch.Tensor, device) -> torch.Tensor:
    with torch.no_grad():
        return model(x.to(device)).argmax(1).cpu() != y.cpu()


def boundary_search(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *,
                    bounds: tuple[float, float], ladder: list[float], pgd_steps: int = 100,
                    cw: dict[str, Any] | None = None, apgd: dict[str, Any] | None = None, bisect: int = 0,
                    device: torch.device | str | None = None, seed: int = 0, random_start: bool = True,
                    batch_size: int = 512) -> BoundaryResult:
    """Run the stages of the module docstring on ``x`` against labels ``y`` (default: the predicted class).

    ``cw``: ``{"eps": acceptance radius, "steps", "stepsize", "binary_search_steps", "initial_const"}`` or None to
    skip; ``apgd``: ``{"eps", "steps", "losses": ["ce", "dlr"]}`` or None; ``bisect``: halvings (0 skips).
    ``random_start=False`` starts PGD at x (then every stage but APGD's start is deterministic in x).
    """
    from . import attack

    check_bounds(x, bounds)
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else x.device
    x = x.detach().cpu()
    with eval_mode(model):
        if y is None:
            with torch.no_grad():
                y = torch.cat([model(b.to(device)).argmax(1).cpu() for b in x.split(batch_size)])
        y = y.cpu()
        res = BoundaryResult(x_boundary=x.clone(), x_pgd=x.clone(), success=torch.zeros(len(x), dtype=torch.bool))
        best = torch.full((len(x),), float("inf"), dtype=x.dtype)

        def keep(stage: str, x_adv: torch.Tensor, ok: torch.Tensor, t0: float) -> None:
            d = (x_adv - x).flatten(1).norm(dim=1)
            better = ok & (d < best)
            best[better] = d[better]
            res.x_boundary[better] = x_adv[better]
            res.success |= ok
            res.l2[stage] = best.clone()
            res.stage_success[stage] = res.success.clone()
            res.seconds[stage] = time.perf_counter() - t0

        t0 = time.perf_counter()
        ladder = sorted(float(e) for e in ladder)
        r = attack(model, x, y, method="pgd", bounds=bounds, epsilons=ladder, device=device, steps=int(pgd_steps),
                   rel_stepsize=2.0 / int(pgd_steps), random_start=random_start, seed=seed, batch_size=batch_size)
        res.x_pgd = r.x_adv.clone()
        res.x_boundary = r.x_adv.clone()  # where nothing succeeds: the last rung's output, as the paper
        keep("pgd", r.x_adv, r.success, t0)
        if cw is not None:
            t0 = time.perf_counter()
            opts = {k: v for k, v in cw.items() if k != "eps"}
            r = attack(model, x, y, method="cw", bounds=bounds, epsilons=None, device=device, batch_size=batch_size,
                       **opts)
            keep("cw", r.x_adv, r.success & (r.l2 <= float(cw["eps"])), t0)
        if apgd is not None:
            t0 = time.perf_counter()
            for loss in apgd.get("losses", ["ce", "dlr"]):
                r = attack(model, x, y, method="apgd", bounds=bounds, epsilons=float(apgd["eps"]), device=device,
                           loss=loss, steps=int(apgd.get("steps", 100)), seed=seed, batch_size=batch_size)
                keep("apgd", r.x_adv, r.success, t0)
        if bisect:
            t0 = time.perf_counter()
            lo, hi = torch.zeros(len(x), dtype=x.dtype), torch.ones(len(x), dtype=x.dtype)
            d = res.x_boundary - x
            active = res.success.clone()
            for _ in range(int(bisect)):
                mid = (lo + hi) / 2
                adv = _adversarial(model, x + mid.view(-1, *[1] * (x.dim() - 1)) * d, y, device)
                hi = torch.where(active & adv, mid, hi)
                lo = torch.where(active & ~adv, mid, lo)
            moved = x + hi.view(-1, *[1] * (x.dim() - 1)) * d
            keep("bisect", moved, res.success & _adversarial(model, moved, y, device), t0)
    return res
