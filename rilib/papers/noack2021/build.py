"""Noack et al. (2021): every model and evaluation of the chapter, in dependency order, with the paper's
calibration rules — computed once (cached) and shared by all pages.

Rules (fixed before any run):

* **λ_J** (both datasets): the grid value (seed 0) whose final training loss — the mean of the regime's loss over
  the last epoch — is nearest that of the seed-0 IR net (IR-R on MNIST, IR on the substitute): the paper's rule,
  Sec 4.2.
* **the substitute's ε** (Table 2, Fashion-MNIST for CIFAR-10): the candidate at which the seed-0 standard net's PGD
  accuracy is nearest 15 % (the paper's standard CIFAR net keeps 14.93 %); adversarial training uses it too.
* **the substitute's IR λ**: the grid value whose final training loss is nearest the seed-0 adversarially trained
  net's (the spec's rule for the substitute).

The work runs in phases, each one parallel batch of worker-process jobs (:func:`run_jobs`: trainings, SmoothGrad
targets, evaluations), both datasets together so that the workers stay busy while one dataset waits on a choice.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ... import parallel, profiles, zoo
from . import cohort as _cohort
from . import jobs as _jobs
from . import targets as _targets

__all__ = ["final_loss", "nearest", "chapter", "table1_models", "table2_models", "teachers", "seed_values",
           "run_jobs", "masking_table"]

MNIST, SUB = "mnist", "fashion-mnist"


def final_loss(spec: zoo.ModelSpec) -> float:
    """The regime's training loss averaged over the last epoch (from the zoo entry's history)."""
    return float(zoo.get(spec, device="cpu", progress=False).meta["train_loss"][-1])


def nearest(values: dict[float, float], reference: float) -> float:
    """The key whose value is nearest ``reference`` (the smaller key on a tie)."""
    return min(sorted(values), key=lambda k: abs(values[k] - reference))


def seed_values(per_seed: list[dict[str, np.ndarray]], name: str) -> np.ndarray:
    """One accuracy per seed: the mean of the per-point booleans ``name`` of each seed's evaluation."""
    return np.asarray([float(np.mean(r[name])) for r in per_seed])


# ------------------------------------------------------------------------------------------------------- jobs
def _do(kind: str, *args) -> None:
    if kind == "train":
        zoo.get(args[0], progress=False)
    elif kind == "targets":
        dataset, teacher, profile, teacher_eps = args
        _targets.ir_targets(dataset, teacher, profile, teacher_eps=teacher_eps)
    else:
        _jobs.run(kind, *args)


def _done(kind: str, *args) -> bool:
    if kind == "train":
        return zoo.is_cached(args[0])
    if kind == "targets":
        return _targets.is_done(*args)
    return _jobs.is_done(kind, *args)


def run_jobs(jobs: list[tuple], desc: str) -> None:
    """Run the jobs ``(kind, *args)`` that are not cached yet — ``("train", spec)``, ``("targets", dataset,
    teacher, profile, teacher_eps)`` or an evaluation of :mod:`rilib.papers.noack2021.jobs` — in worker processes,
    longest first (adversarial training, then the other trainings, then the rest)."""
    todo, seen = [], set()
    for j in jobs:
        ident = (j[0], j[1].key) if j[0] == "train" else repr(j)
        if ident not in seen and not _done(*j):
            seen.add(ident)
            todo.append(j)
    rank = lambda j: 0 if j[0] == "train" and j[1].regime == "adversarial" else (1 if j[0] == "train" else 2)  # noqa: E731
    todo.sort(key=rank)
    parallel.map_jobs(_do, todo, desc=desc)


# --------------------------------------------------------------------------------------------------- the plan
def _m(ds: str, regime: str, seed: int, profile: str, **kw) -> zoo.ModelSpec:
    return _cohort.spec(_cohort.NoackModel(ds, regime, seed, **kw), profile)


def _ir(ds: str, regime: str, lam: float, seed: int, profile: str, eps: float) -> zoo.ModelSpec:
    teacher, permute = _cohort.TEACHERS[regime]
    t = _targets.ir_targets(ds, teacher, profile, teacher_eps=eps if teacher == "adv" else None, permute=permute)
    return _cohort.spec(_cohort.NoackModel(ds, regime, seed, lam=lam), profile, extras=t["extras"])


@functools.lru_cache(maxsize=4)
def chapter(profile: str) -> dict[str, Any]:
    """Train and evaluate everything of Tables 1–3 (cached); returns ``{"mnist": …, "fashion-mnist": …}``, each
    ``{"specs": {regime: [spec per seed]}, "eps", "lam_j", "calibration": {...}, ...}`` (the substitute also
    ``lam_ir``). Evaluations are cached; read them with :mod:`rilib.papers.noack2021.jobs`."""
    P, S = profiles.get(profile).noack, profiles.get(profile).noack_sub
    seeds, s0 = list(P.seeds), P.seeds[0]
    eps1 = _cohort.attack_eps(MNIST, profile)
    lam1 = {"ir-r": P.lam_ir_r, "ir-r-perm": P.lam_ir_r_perm, "ir-nr": P.lam_ir_nr}
    # 1: the nets without a choice to wait for
    std1 = [_m(MNIST, "std", s, profile) for s in seeds]
    adv1 = [_m(MNIST, "adv", s, profile, eps=eps1) for s in seeds]
    std2 = [_m(SUB, "std", s, profile) for s in seeds]
    run_jobs([("train", s) for s in adv1 + std1 + std2], "Noack: standard and adversarial nets")
    # 2: MNIST targets; the substitute's ε candidates
    run_jobs([("targets", MNIST, "adv", profile, eps1), ("targets", MNIST, "std", profile, None)]
             + [("robustness", std2[0], float(e), profile) for e in S.eps_candidates], "Noack: targets, ε rule")
    acc_e = {float(e): float(_jobs.robustness(std2[0], float(e), profile)["adv"].mean()) for e in S.eps_candidates}
    eps2 = nearest(acc_e, S.target_std_acc)
    # 3: the substitute's adversarial nets; MNIST's IR nets and λ_J grid
    adv2 = [_m(SUB, "adv", s, profile, eps=eps2) for s in seeds]
    ir1 = {r: [_ir(MNIST, r, lam, s, profile, eps1) for s in seeds] for r, lam in lam1.items()}
    jgrid1 = {float(lam): _m(MNIST, "jacobian", s0, profile, lam=lam) for lam in P.lam_j_grid}
    run_jobs([("train", s) for s in adv2 + [x for v in ir1.values() for x in v] + list(jgrid1.values())],
             "Noack: IR nets, λ_J grid (MNIST), adversarial nets (substitute)")
    ref1 = final_loss(ir1["ir-r"][0])
    loss_j1 = {lam: final_loss(s) for lam, s in jgrid1.items()}
    lam_j1 = nearest(loss_j1, ref1)
    jac1 = [_m(MNIST, "jacobian", s, profile, lam=lam_j1) for s in seeds]
    # 4: the substitute's targets; MNIST's remaining Jacobian nets
    run_jobs([("targets", SUB, "adv", profile, eps2)] + [("train", s) for s in jac1], "Noack: Jacobian nets (MNIST)")
    adv_loss2 = final_loss(adv2[0])
    # 5: the substitute's IR λ grid
    irgrid2 = {float(lam): _ir(SUB, "ir", lam, s0, profile, eps2) for lam in S.lam_ir_grid}
    run_jobs([("train", s) for s in irgrid2.values()], "Noack: IR λ grid (substitute)")
    loss_ir2 = {lam: final_loss(s) for lam, s in irgrid2.items()}
    lam_ir2 = nearest(loss_ir2, adv_loss2)
    ir2 = [_ir(SUB, "ir", lam_ir2, s, profile, eps2) for s in seeds]
    # 6: the substitute's IR nets and λ_J grid
    jgrid2 = {float(lam): _m(SUB, "jacobian", s0, profile, lam=lam) for lam in P.lam_j_grid}
    run_jobs([("train", s) for s in ir2 + list(jgrid2.values())], "Noack: IR nets, λ_J grid (substitute)")
    ref2 = final_loss(ir2[0])
    loss_j2 = {lam: final_loss(s) for lam, s in jgrid2.items()}
    lam_j2 = nearest(loss_j2, ref2)
    jac2 = [_m(SUB, "jacobian", s, profile, lam=lam_j2) for s in seeds]
    run_jobs([("train", s) for s in jac2], "Noack: Jacobian nets (substitute)")
    specs1 = {"std": std1, "adv": adv1, "jacobian": jac1, **ir1}
    specs1 = {r: specs1[r] for r in _cohort.REGIMES}
    specs2 = {"std": std2, "adv": adv2, "jacobian": jac2, "ir": ir2}
    # 7: every evaluation
    evals = [("robustness", s, eps1, profile) for v in specs1.values() for s in v]
    evals += [("robustness", s, eps2, profile) for v in specs2.values() for s in v]
    evals += [("masking", v[0], eps1, profile) for v in specs1.values()]
    evals += [("masking", v[0], eps2, profile) for v in specs2.values()]
    evals += [("gradient_norms", s, profile) for v in specs1.values() for s in v]
    run_jobs(evals, "Noack: evaluations")

    def rows(losses: dict[float, float], ref: float, name: str, chosen: float) -> list[dict[str, Any]]:
        return [{name: k, "final training loss": v, "|Δ| to the reference": abs(v - ref), "chosen": k == chosen}
                for k, v in losses.items()]

    return {
        MNIST: {"specs": specs1, "eps": eps1, "lam_j": lam_j1, "reference_loss": ref1,
                "calibration": {"lam_j": rows(loss_j1, ref1, "λ_J", lam_j1)}},
        SUB: {"specs": specs2, "eps": eps2, "lam_ir": lam_ir2, "lam_j": lam_j2, "adv_loss": adv_loss2,
              "ir_loss": ref2,
              "calibration": {"eps": [{"ε (L2, [0, 1])": e, "standard net's PGD accuracy": a, "chosen": e == eps2}
                                      for e, a in acc_e.items()],
                              "lam_ir": rows(loss_ir2, adv_loss2, "λ", lam_ir2),
                              "lam_j": rows(loss_j2, ref2, "λ_J", lam_j2)}},
    }


def table1_models(profile: str) -> dict[str, Any]:
    """The MNIST part of :func:`chapter`."""
    return chapter(profile)[MNIST]


def table2_models(profile: str) -> dict[str, Any]:
    """The substitute's part of :func:`chapter`."""
    return chapter(profile)[SUB]


def teachers(dataset: str, profile: str) -> dict[str, Any]:
    """The seed-0 standard and adversarially trained nets of ``dataset`` (the targets' teachers):
    ``{"std": spec, "adv": spec, "eps": the adversarial ε}``."""
    c = chapter(profile)[dataset]
    return {"std": c["specs"]["std"][0], "adv": c["specs"]["adv"][0], "eps": c["eps"]}


def masking_table(specs: dict[str, list[zoo.ModelSpec]], eps: float, profile: str) -> tuple[list[dict[str, Any]],
                                                                                            dict[str, Any]]:
    """The gradient-masking check of every regime's seed-0 net: table rows, and per regime the cached arrays and
    :func:`rilib.papers.noack2021.claims.masking_verdicts`."""
    from . import claims as _claims

    rows, out = [], {}
    for r, v in specs.items():
        m = _jobs.masking(v[0], eps, profile)
        fmn_acc = float(np.mean(m["fmn_dist"] > eps))
        verdict = _claims.masking_verdicts(m["pgd_acc"], fmn_acc, float(np.mean(m["pgd_at_eps_fmn_points"])))
        out[r] = {"arrays": m, "verdict": verdict}
        rows.append({"regime": _cohort.LABELS[r], **{f"PGD acc, ε = {e:g}": round(float(a), 3)
                                                      for e, a in zip(m["eps_grid"], m["pgd_acc"])},
                     f"FMN acc at ε = {eps:g}": round(fmn_acc, 3),
                     "median FMN distance": round(float(np.median(m["fmn_dist"])), 3),
                     "PGD − FMN": round(verdict["fmn_gap"], 3), "monotone": verdict["monotone"],
                     "≈ 0 at the largest ε": verdict["vanishes"], "passed": verdict["passed"]})
    return rows, out
