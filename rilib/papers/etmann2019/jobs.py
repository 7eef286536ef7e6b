"""Etmann et al. (2019): the expensive per-model evaluations of the chapter, cached and run in worker processes.

* :func:`measure` — per evaluation point: the geometry kernel (α, α†, ρ̃, β and the bound terms of Theorems 2 and
  3) and three attack distances against the *predicted* class: the gradient attack (line search along the loss
  gradient), L2 BIM (smallest successful ε of a grid, refined per example) and Carlini–Wagner L2. A failed attack
  is +∞ (as in the original code: it counts in medians).
* :func:`cw_check` — the chapter's CW setting against a longer CW run on the first measured points.
* :func:`theorem_checks` — Theorem 1, Lemma 2 and Theorems 2/3 in float64.

Each result is cached by :func:`rilib.zoo.cached_arrays` under :func:`job_key` (model key, profile settings, a
byte digest of the evaluation points, the digest of the code it depends on, library versions); :func:`prepare` runs
the missing ones in parallel (:mod:`rilib.parallel`) and the notebooks then read them from the cache.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ... import attacks, cache, geometry, profiles, zoo
from .cohorts import BOUNDS, CohortModel, eval_data, member, specs

__all__ = ["measure", "cw_check", "theorem_checks", "prepare", "measured_cohort", "job_key", "JOB_KINDS"]

#: the code each job's numbers depend on: the job's function and every rilib definition it reaches (geometry kernel,
#: attacks, search; see :func:`rilib.cache.code_digest`) enter the cache key
_CODE = {
    "measure": (f"{__name__}:measure",),
    "cw_check": (f"{__name__}:cw_check",),
    "theorems": (f"{__name__}:theorem_checks",),
}
JOB_KINDS = tuple(_CODE)


def _cw_options(A) -> dict[str, Any]:
    return dict(steps=A.cw_steps, binary_search_steps=A.cw_binary_steps, stepsize=A.cw_stepsize,
                initial_const=A.cw_initial_const)


def job_key(kind: str, model_key: str, x: torch.Tensor, profile: str | None) -> cache.Key:
    """The cache key of job ``kind`` for the model with zoo key ``model_key`` on the evaluation points ``x``
    (``profile`` gives the attack settings; the float64 theorem checks have none)."""
    P = profiles.get(profile) if kind != "theorems" else None
    if kind == "measure":
        settings, inputs = {"attacks": P.etmann_attacks.to_dict(), "bounds": BOUNDS}, x
    elif kind == "cw_check":
        settings = {"attacks": P.etmann_attacks.to_dict(), "check": P.etmann_cw_check.to_dict(), "bounds": BOUNDS}
        inputs = x[: P.etmann_cw_check.n_points]
    elif kind == "theorems":
        settings, inputs = {"dtype": "float64"}, x
    else:
        raise ValueError(f"unknown job kind {kind!r}: one of {', '.join(JOB_KINDS)}")
    return cache.key(f"etmann-{kind}", spec=settings, code=_CODE[kind], inputs=[inputs], model=model_key)


def _name(kind: str, cohort: str) -> str:
    return f"etmann-{kind}-{cohort}"


def measure(cm: CohortModel, x: torch.Tensor, *, profile: str, name: str = "") -> dict[str, Any]:
    """Geometry and attack distances of one model on ``x`` (cached).

    Returns per point the geometry of :func:`rilib.geometry.geometry` (α, α†, ρ̃, bound terms of Theorems 2 and 3),
    ``signed_alpha`` = ⟨x, ḡ⟩ (Sec 4.1), and the attacks' actual perturbation norms ``dist_gradient`` (line search
    along the loss gradient), ``dist_bim_l2`` (L2 BIM at the smallest successful ε of a grid refined per example),
    ``dist_cw`` (Carlini–Wagner L2), plus ``dist_bim`` (that ε, an upper bound of ``dist_bim_l2``); +inf where an
    attack failed.
    """
    A = profiles.get(profile).etmann_attacks

    def compute() -> dict[str, Any]:
        model = cm.model.eval()
        xd = x.to(next(model.parameters()).device)
        geo = geometry.geometry(model, xd, theorem3=True, keep_vectors=False, batch_size=A.geometry_batch)
        out = {k: v for k, v in geo.to_numpy().items() if k not in ("logits", "beta")}
        linear = (geo.logits - geo.beta).gather(1, geo.pred[:, None]).squeeze(1)  # ⟨x, g⟩ (Theorem 1 remainder)
        out["signed_alpha"] = (torch.sign(linear) * geo.alpha).cpu().numpy()
        grad = attacks.attack(model, xd, method="gradient", bounds=BOUNDS)
        bim = attacks.attack(model, xd, method="bim", bounds=BOUNDS, epsilons=np.geomspace(*A.bim_eps_range,
                             A.bim_n_eps).tolist(), refine=A.bim_refine, steps=A.bim_steps)
        cw = attacks.attack(model, xd, method="cw", bounds=BOUNDS, **_cw_options(A))
        out.update(dist_gradient=grad.l2.numpy(), dist_bim=bim.epsilon.numpy(), dist_bim_l2=bim.l2.numpy(),
                   dist_cw=cw.l2.numpy())
        return out

    return zoo.cached_arrays(_name("measure", name or "model"), job_key("measure", cm.entry.meta["key"], x, profile),
                             compute)


def cw_check(cm: CohortModel, x: torch.Tensor, *, profile: str, name: str = "") -> dict[str, Any]:
    """The chapter's CW distances on the first ``n_points`` measured points against a longer CW run, and a faster
    minimal-norm attack (DDN, ``ddn_steps``) beside them, with each run's time (cached).

    ``cw`` is the measured run itself (:func:`measure`'s ``dist_cw``: the attack's answer for a point does not
    depend on its batch-mates, so this is the distance every figure uses); ``cw_rerun`` is the same setting run
    again on these points alone (timed; it must give ``cw`` again); ``cw_long`` has ``steps_factor``× more
    steps and more binary-search steps; ``ddn`` is Foolbox's DDN (Rony et al. 2019), a candidate for a tighter and
    faster ρ beside the paper's CW; ``seconds_<run>`` are the runs' times on the machine that computed them. The architecture notes warn that Foolbox's CW defaults (9 × 10 000 steps)
    are far too slow for a CPU and that a cheaper setting must be checked against a longer run, not assumed.
    """
    P = profiles.get(profile)
    A, C = P.etmann_attacks, P.etmann_cw_check
    xs = x[: C.n_points]
    measured = measure(cm, x, profile=profile, name=name)

    def compute() -> dict[str, Any]:
        model = cm.model.eval()
        xd = xs.to(next(model.parameters()).device)
        runs = {"cw_rerun": dict(method="cw", **_cw_options(A)),
                "cw_long": dict(method="cw", **dict(_cw_options(A), steps=A.cw_steps * C.steps_factor,
                                                    binary_search_steps=C.binary_search_steps, stepsize=C.stepsize)),
                "ddn": dict(method="ddn", steps=C.ddn_steps)}
        out = {}
        for k, kw in runs.items():
            t0 = time.perf_counter()
            out[k] = attacks.attack(model, xd, bounds=BOUNDS, **kw).l2.cpu().numpy()
            out[f"seconds_{k}"] = time.perf_counter() - t0
        return out

    out = zoo.cached_arrays(_name("cw_check", name or "model"), job_key("cw_check", cm.entry.meta["key"], x, profile),
                            compute)
    return {"cw": measured["dist_cw"][: C.n_points], **out}


def theorem_checks(cm: CohortModel, x: torch.Tensor, *, name: str = "") -> dict[str, Any]:
    """Theorem 1, Lemma 2 and Theorems 2/3 of Etmann et al. on one trained model, in float64, per point (cached).

    * ``thm1_residual``: max_i |Ψ^i(x) − ⟨x, ∇ₓΨ^i(x)⟩ − ⟨b, ∇_bΨ^i(x)⟩| / max_i |Ψ^i(x)| per point, the bias term
      computed from the parameters (Theorem 1: it vanishes for ReLU / max-pool / eval-BN networks);
    * ``lemma2_rel_err``: |ρ̃ − α†|/ρ̃ on the bias-free copy (:func:`rilib.geometry.homogeneous_copy`; Lemma 2);
    * ``viol14/15/16``: ρ̃ − right-hand side of ineq. (14), (15) (Theorem 2) and (16) (Theorem 3): ≤ 0 where the
      inequality holds (they hold by construction of β as the remainder, see :func:`rilib.geometry.geometry`);
      ``slack14/15/16``: (rhs − ρ̃)/ρ̃;
    * ``same_pred_xi``: whether F(ξ) = F(x) (Theorem 3's assumption on the shifted point ξ).
    """
    def compute() -> dict[str, Any]:
        model = copy.deepcopy(cm.model).double().eval()
        xd = x.double().to(next(model.parameters()).device)
        geo = geometry.geometry(model, xd, theorem3=True, keep_vectors=False, batch_size=50)
        grads_dot = geo.logits - geo.beta  # ⟨x, ∇Ψ^i⟩ for every class
        bias = geometry.bias_term(model, xd)
        resid = (geo.logits - grads_dot - bias).abs().amax(1) / geo.logits.abs().amax(1).clamp_min(1e-300)
        geo_h = geometry.geometry(geometry.homogeneous_copy(cm.model), xd, keep_vectors=False, batch_size=50)
        out = {"thm1_residual": resid, "lemma2_rel_err": (geo_h.rho_tilde - geo_h.alpha_dagger).abs()
               / geo_h.rho_tilde.abs().clamp_min(1e-12), "same_pred_xi": (geo.pred_xi == geo.pred)}
        for k, rhs in (("14", geo.rhs14), ("15", geo.rhs15), ("16", geo.rhs16)):
            out[f"viol{k}"] = geo.rho_tilde - rhs
            out[f"slack{k}"] = (rhs - geo.rho_tilde) / geo.rho_tilde.clamp_min(1e-12)
        return {k: v.detach().cpu().numpy() for k, v in out.items()}

    return zoo.cached_arrays(_name("theorems", name or "model"),
                             job_key("theorems", cm.entry.meta["key"], x, None), compute)


_RUN: dict[str, Callable[..., Any]] = {
    "measure": lambda cm, x, profile, name: measure(cm, x, profile=profile, name=name),
    "cw_check": lambda cm, x, profile, name: cw_check(cm, x, profile=profile, name=name),
    "theorems": lambda cm, x, profile, name: theorem_checks(cm, x, name=name),
}


def _job(kind: str, name: str, profile: str, index: int) -> str:
    """One worker job of :func:`prepare` (module level so that spawned workers can import it)."""
    _, x, _ = eval_data(name, profile)
    _RUN[kind](member(name, profile, index), x, profile, name)
    return f"{kind} {name}[{index}]"


def prepare(profile: str, kind: str = "measure", *, names: tuple[str, ...] = ("mnist", "complex"),
            indices: dict[str, list[int]] | None = None, progress: bool = True) -> None:
    """Train (if needed) and evaluate the chapter's models in parallel worker processes (:mod:`rilib.parallel`).

    ``kind`` is one of :data:`JOB_KINDS`; ``indices`` limits the models per cohort. Only jobs whose result is not
    cached yet are run (a ``cw_check`` also needs its model's ``measure``); the notebooks then read every result
    from the cache. Nothing is returned.
    """
    from ... import parallel

    if kind not in _RUN:
        raise ValueError(f"unknown job kind {kind!r}: one of {', '.join(JOB_KINDS)}")
    needed = ("measure", "cw_check") if kind == "cw_check" else (kind,)
    jobs = []
    for name in names:
        specs_, _ = specs(name, profile)
        _, x, _ = eval_data(name, profile)
        for i in (indices or {}).get(name, range(len(specs_))):
            if any(not zoo.cached_path(_name(k, name), job_key(k, specs_[i].key, x, profile)).exists()
                   for k in needed):
                jobs.append((kind, name, profile, i))
    if jobs:
        parallel.map_jobs(_job, jobs, desc=f"etmann {kind} ({profile})", progress=progress)


def measured_cohort(name: str, profile: str) -> tuple[list[CohortModel], list[dict[str, Any]]]:
    """Every model of cohort ``name`` with its (cached) measurements on the cohort's evaluation points."""
    from .cohorts import cohort

    prepare(profile, "measure", names=(name,))
    models = cohort(name, profile)
    _, x, _ = eval_data(name, profile)
    return models, [measure(cm, x, profile=profile, name=name) for cm in models]
