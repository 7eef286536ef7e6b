"""Etmann et al. (2019): the experiments of the theorems page that are not per-model jobs.

* :func:`lemma1_experiment` — Lemma 1 / Sec 2.2.2 on random affine and linear classifiers: the kernel's ρ̃, α†, α
  against the exact distance (an identity check), and the chapter's CW attack against it (empirical);
* :func:`def2_pearson_error` — Definition 2's remark: α = |Pearson(x, ∇Ψ)| for centred unit-norm inputs
  (an identity check);
* :func:`shift_experiment` — Sec 3.3: the same classifier on shifted inputs x − c: ρ̃ unchanged (identity), M[α]
  changed (empirical).
"""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ... import attacks, geometry, profiles
from ...evaluation import Interval, bootstrap, median
from ...models import Shifted
from .cohorts import CohortModel

__all__ = ["lemma1_experiment", "def2_pearson_error", "shift_experiment"]


def lemma1_experiment(*, profile: str, n_points: int = 200, dim: int = 784, n_classes: int = 10,
                      seed: int = 0) -> dict[str, Any]:
    """Lemma 1 (eq. 8: ρ = ρ̃ on an affine region) and Sec 2.2.2 (linear: ρ = ρ̃ = α†; binary linear: α = α†).

    Random ``n_classes``-class affine and linear (bias-free) classifiers on ``dim``-pixel "images" uniform in
    [0.2, 0.8] — the cohorts' input domain, box [0, 1] — so that the attack runs in the setting the chapter uses it
    in. Returns

    * ``rel_err``: the largest relative error of ρ̃ (affine, linear), α† (linear) and α (binary linear, against α†)
      against the exact distance :func:`rilib.geometry.affine_distance` — float64, an identity check;
    * ``exact_<affine|linear>``: the exact distances;
    * ``inside_<affine|linear>``: whether the exact nearest boundary point lies inside the box [0, 1] (only then is
      the box-constrained attack's target the closed form); the attack statistics use those points only;
    * ``cw_ratio_<affine|linear>``: per point, the L2 distance the chapter's CW setting (profile ``etmann_attacks``)
      finds divided by the exact distance (float32, +inf where CW failed); ``cw_median_ratio`` (the larger of the
      two medians, with a bootstrap interval over the points) and ``cw_min_ratio`` (the smallest ratio; below 1
      would mean an attack beat the exact distance, i.e. a bug).
    """
    A = profiles.get(profile).etmann_attacks
    g = torch.Generator().manual_seed(seed)
    errs, out = [], {}
    for with_bias in (True, False):
        tag = "affine" if with_bias else "linear"
        x = 0.2 + 0.6 * torch.rand(n_points, dim, generator=g, dtype=torch.float64)
        lin = nn.Linear(dim, n_classes, bias=with_bias).double().eval()
        with torch.no_grad():
            lin.weight.copy_(torch.randn(n_classes, dim, generator=g, dtype=torch.float64))
            if with_bias:  # biases on the scale of the logits, so they matter
                lin.bias.copy_(torch.randn(n_classes, generator=g, dtype=torch.float64) * float((x @ lin.weight.T).std()))
        W, b = lin.weight.detach(), (lin.bias.detach() if with_bias else None)
        exact = geometry.affine_distance(W, b, x)
        geo = geometry.geometry(lin, x)
        errs.append(float(((geo.rho_tilde - exact).abs() / exact).max()))
        if not with_bias:
            errs.append(float(((geo.alpha_dagger - exact).abs() / exact).max()))
        # the exact nearest boundary point: x moved by ρ along W_j* − W_i* (unit); inside the pixel box?
        i = geo.pred
        d = W[geo.j_star] - W[i]
        foot = x + d / d.norm(dim=1, keepdim=True) * exact[:, None]
        inside = ((foot >= 0) & (foot <= 1)).all(1)
        cw = attacks.attack(copy.deepcopy(lin).float(), x.float(), method="cw", bounds=(0.0, 1.0),
                            steps=A.cw_steps, binary_search_steps=A.cw_binary_steps, stepsize=A.cw_stepsize,
                            initial_const=A.cw_initial_const)
        out[f"inside_{tag}"] = inside.numpy()
        out[f"exact_{tag}"] = exact.numpy()
        out[f"cw_ratio_{tag}"] = (cw.l2.double() / exact).numpy()
    z = torch.randn(dim, generator=g, dtype=torch.float64)
    binary = geometry.AffineBinary(z, 0.0)
    geo_b = geometry.geometry(binary, torch.rand(n_points, dim, generator=g, dtype=torch.float64))
    errs.append(float(((geo_b.alpha - geo_b.alpha_dagger).abs() / geo_b.alpha).max()))
    ratios = [out["cw_ratio_affine"][out["inside_affine"]], out["cw_ratio_linear"][out["inside_linear"]]]
    out["rel_err"] = max(errs)
    out["cw_median_ratio"] = max((bootstrap(lambda pm: median(pm[0]["r"]), [{"r": r}]) for r in ratios),
                                 key=lambda iv: iv.estimate) if all(r.size for r in ratios) \
        else Interval(math.nan, math.nan, math.nan)
    out["cw_min_ratio"] = float(min(np.min(r) for r in ratios)) if all(r.size for r in ratios) else math.nan
    return out


def def2_pearson_error(model: nn.Module, x: torch.Tensor) -> float:
    """Largest |α − |Pearson(x, g)|| over images ``x`` centred and scaled to ‖x‖ = 1, with the (centred) saliency map
    g = ∇Ψ^(i*)(x) of ``model`` in float64 (Definition 2's remark; an identity check)."""
    m64 = copy.deepcopy(model).double().eval()
    xc = x.double().flatten(1)
    xc = xc - xc.mean(1, keepdim=True)
    xc = (xc / xc.norm(dim=1, keepdim=True)).view_as(x)
    g = geometry.geometry(m64, xc, keep_vectors=True).g.flatten(1)
    g = g - g.mean(1, keepdim=True)
    alpha_c = (xc.flatten(1) * g).sum(1).abs() / g.norm(dim=1)
    pearson = torch.tensor([abs(np.corrcoef(a.numpy(), b.numpy())[0, 1]) for a, b in zip(xc.flatten(1), g)],
                           dtype=torch.float64)
    return float((alpha_c - pearson).abs().max())


def shift_experiment(models: list[CohortModel], x: torch.Tensor, shift: float) -> dict[str, Any]:
    """Sec 3.3: every model re-expressed on x' = x − ``shift`` by :class:`rilib.models.Shifted` (float64).

    Returns ``rows`` (per model: M[ρ̃] and M[α] on x and on x − c), ``rho_tilde_max_rel_change`` (largest
    |Δρ̃|/ρ̃ over all points and models — an identity check: the shifted model is the same function) and
    ``alpha_min_abs_change``: the smallest over the models of |M[α on x − c] / M[α on x] − 1|, with a bootstrap
    interval over the points.
    """
    rows, per_model, rho_change = [], [], 0.0
    for cm in models:
        m64 = copy.deepcopy(cm.model).double().eval()
        before = geometry.geometry(m64, x.double(), keep_vectors=False)
        after = geometry.geometry(Shifted(m64, shift), x.double() - shift, keep_vectors=False)
        rho_change = max(rho_change, float(((after.rho_tilde - before.rho_tilde).abs() / before.rho_tilde).max()))
        a0, a1 = before.alpha.numpy(), after.alpha.numpy()
        per_model.append({"a0": a0, "a1": a1})
        rows.append({"lam_paper": cm.lam_paper, "M[ρ̃] on x": median(before.rho_tilde.numpy()),
                     "M[ρ̃] on x − c": median(after.rho_tilde.numpy()), "M[α] on x": median(a0),
                     "M[α] on x − c": median(a1), "M[α] change": median(a1) / median(a0) - 1})
    change = bootstrap(lambda pm: min(abs(median(m["a1"]) / median(m["a0"]) - 1) for m in pm), per_model)
    return {"rows": rows, "rho_tilde_max_rel_change": rho_change, "alpha_min_abs_change": change}
