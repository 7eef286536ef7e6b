"""Wang et al. (2022), Fig 15 (App. B.7): the cascading model-randomisation check of BIG (Adebayo et al. 2018).

Walk ``model.parameters()`` from the last tensor to the first; at every stage replace ``every`` more tensors,
cumulatively, by Gaussian noise rescaled to each tensor's own norm (seeded); at each stage search the boundary of
the randomised model again (the PGD ladder and the bisection of :func:`rilib.attacks.boundary.boundary_search`: the
paper does not say whether it re-searches; a boundary point of the intact model means nothing for a randomised
one), compute BIG for the class the randomised model predicts, and take per image the Spearman rank correlation of
|BIG| with the intact model's |BIG|.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor

from ... import attribution
from ...attacks.boundary import boundary_search
from ...evaluation.stats import spearman

__all__ = ["cascading_big"]


def _big(model, x: Tensor, *, ladder, pgd_steps: int, bisect: int, ig_steps: int, seed: int) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        pred = model(x).argmax(1)
    r = boundary_search(model, x, pred, bounds=(0.0, 1.0), ladder=ladder, pgd_steps=pgd_steps, bisect=bisect,
                        seed=seed)
    return attribution.attribute(model, x, method="big", target=pred, boundary=r.x_boundary, n_steps=ig_steps,
                                 abs=True, channel_sum=True), pred


def cascading_big(model, x: Tensor, *, every: int, ladder, pgd_steps: int, bisect: int, ig_steps: int,
                  seed: int = 0) -> dict:
    """``{"stage_names": last randomised tensor per stage ("intact" first), "spearman": (n_stages, N),
    "accuracy": (n_stages,) share of x whose prediction is the intact model's}``."""
    model = copy.deepcopy(model).eval()
    kw = dict(ladder=ladder, pgd_steps=pgd_steps, bisect=bisect, ig_steps=ig_steps, seed=seed)
    base, pred0 = _big(model, x, **kw)
    named = list(model.named_parameters())[::-1]
    g = torch.Generator().manual_seed(seed)
    names, rows, acc = ["intact"], [torch.ones(x.shape[0])], [1.0]
    for start in range(0, len(named), every):
        with torch.no_grad():
            for _, p in named[start:start + every]:
                r = torch.randn(p.shape, generator=g, dtype=p.dtype)
                p.copy_((r * p.norm() / r.norm().clamp_min(1e-12)).to(p.device))
        maps, pred = _big(model, x, **kw)
        rows.append(torch.tensor([spearman(a.flatten().numpy(), b.flatten().numpy())
                                  for a, b in zip(base, maps)], dtype=torch.float64))
        acc.append(float((pred == pred0).float().mean()))
        names.append(named[min(start + every, len(named)) - 1][0])
    return {"stage_names": names, "spearman": torch.stack(rows), "accuracy": torch.tensor(np.asarray(acc))}
