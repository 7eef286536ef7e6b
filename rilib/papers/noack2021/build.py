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

The work is one dependency graph of worker-process jobs (trainings, SmoothGrad targets, evaluations), both datasets
together, run by :func:`rilib.parallel.run_plan`: each job starts as soon as what it needs is cached.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ... import parallel, profiles, zoo
from . import cohort as _cohort
from . import jobs as _jobs
from . import targets as _targets

__all__ = ["final_loss", "nearest", "bisect_nearest", "chapter", "table1_models", "table2_models", "teachers",
           "seed_values", "masking_table"]

MNIST, SUB = "mnist", "fashion-mnist"


def final_loss(spec: zoo.ModelSpec) -> float:
    """The regime's training loss averaged over the last epoch (from the zoo entry's history)."""
    return float(zoo.get(spec, device="cpu", progress=False).meta["train_loss"][-1])


def nearest(values: dict[float, float], reference: float) -> float:
    """The key whose value is nearest ``reference`` (the smaller key on a tie)."""
    return min(sorted(values), key=lambda k: abs(values[k] - reference))


def bisect_nearest(grid, losses: dict[float, float], reference: float | None
                   ) -> tuple[float | None, list[float], list[float]]:
    """One step of the search for the grid value whose final training loss is nearest ``reference`` (the paper's
    rule, Sec 4.2), by bisection on a loss that does not decrease with λ.

    ``losses`` holds the grid values trained so far; ``reference`` is None while the reference net is not trained.
    Returns ``(chosen, [], read)`` once decided, else ``(None, the grid values to train next, read)`` (none: wait
    for the reference); ``read``: the grid values whose losses the search has read so far (others in ``losses``
    are ignored, so the choice does not depend on what else is cached).

    With a loss non-decreasing in λ (the minimum of CE + λ·R over the weights is, for R ≥ 0), a grid value beyond
    one whose loss already lies on the far side of the reference is farther from it, so the choice is
    :func:`nearest` over the whole grid while ⌈log₂ n⌉ + 1 of its n values are trained (2 of 3, 3 of 5). Where two
    values are equally near, the full grid's rule takes the smaller and this search the one it kept."""
    keys = sorted(float(g) for g in grid)
    lo, hi = 0, len(keys) - 1
    read: list[float] = []
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if keys[mid] not in losses:
            return None, [keys[mid]], read
        read.append(keys[mid])
        if reference is None:
            return None, [], read
        if losses[keys[mid]] >= reference:
            hi = mid
        else:
            lo = mid
    ends = keys[lo:hi + 1]
    need = [k for k in ends if k not in losses]
    read = sorted(set(read) | {k for k in ends if k in losses})
    if need or reference is None:
        return None, need, read
    return nearest({k: losses[k] for k in ends}, reference), [], read


def seed_values(per_seed: list[dict[str, np.ndarray]], name: str) -> np.ndarray:
    """One accuracy per seed: the mean of the per-point booleans ``name`` of each seed's evaluation."""
    return np.asarray([float(np.mean(r[name])) for r in per_seed])


# ------------------------------------------------------------------------------------------------------- jobs
def _do(kind: str, *args) -> None:
    if kind == "train":
        zoo.get(args[0], progress=False)
    elif kind == "targets":
        dataset, teacher, profile, teacher_eps, permute = args
        _targets.ir_targets(dataset, teacher, profile, teacher_eps=teacher_eps, permute=permute)
    else:
        _jobs.run(kind, *args)


class _Plan:
    """One pass over the chapter's dependency graph against the cache: what is ready to run now (``jobs``, with an
    urgency each: 0 = on the way to a calibration choice, 1 = another training, 2 = an evaluation), and whether all
    of it is done. A job is listed only once its inputs (teacher nets, targets, chosen λ / ε) are cached."""

    def __init__(self, profile: str, memo: dict[str, Any]):
        self.profile = profile
        self.memo = memo  # what earlier passes of the same run found: cached things stay cached
        self.jobs: list[tuple[int, int, tuple]] = []
        self.complete = True

    def _known(self, what: Any, check) -> bool:
        ident = repr(what)
        if ident in self.memo.setdefault("done", set()):
            return True
        if check():
            self.memo["done"].add(ident)
            return True
        return False

    def cached(self, spec: zoo.ModelSpec) -> bool:
        return self._known(spec, lambda: zoo.is_cached(spec))

    def final_loss(self, spec: zoo.ModelSpec) -> float:
        losses = self.memo.setdefault("loss", {})
        if repr(spec) not in losses:
            losses[repr(spec)] = final_loss(spec)
        return losses[repr(spec)]

    def ir(self, ds: str, regime: str, lam: float, seed: int, eps: float) -> zoo.ModelSpec:
        """The spec of an IR net (its targets' key computed once per run)."""
        teacher, permute = _cohort.TEACHERS[regime]
        t_eps = eps if teacher == "adv" else None
        ex = self.memo.setdefault("extras", {})
        if (ds, teacher, t_eps, permute) not in ex:
            ex[ds, teacher, t_eps, permute] = _targets.extras(ds, teacher, self.profile, t_eps, permute)
        return _cohort.spec(_cohort.NoackModel(ds, regime, seed, lam=lam), self.profile,
                            extras=ex[ds, teacher, t_eps, permute])

    def _add(self, urgency: int, job: tuple) -> None:
        self.complete = False
        if any(j == job for *_, j in self.jobs):
            return
        adv = job[0] == "train" and job[1].regime == "adversarial"
        self.jobs.append((urgency, 0 if adv else 1, job))

    def model(self, spec: zoo.ModelSpec, urgent: bool = False) -> bool:
        """Whether ``spec`` is trained; else list its training."""
        if self.cached(spec):
            return True
        self._add(0 if urgent else 1, ("train", spec))
        return False

    def models(self, specs: list[zoo.ModelSpec], urgent: bool = False) -> bool:
        return all([self.model(s, urgent) for s in specs])  # a list: every missing one is listed

    def calibrate(self, grid: dict[float, zoo.ModelSpec], reference: float | None, name: str
                  ) -> tuple[float | None, list[dict[str, Any]]]:
        """The grid value (λ -> its seed-0 net) whose final training loss is nearest ``reference`` (None while the
        reference net is not trained), by :func:`bisect_nearest`; lists the trainings the search needs next (on
        the way to a choice: urgent). Returns the choice (None until made) and the table of the grid."""
        losses = {lam: self.final_loss(s) for lam, s in grid.items() if self.cached(s)}
        chosen, need, read = bisect_nearest(grid, losses, reference)
        for lam in need:
            self.model(grid[lam], urgent=True)
        return chosen, ([] if chosen is None else _rows({k: losses[k] for k in read}, reference, name, chosen,
                                                        grid=grid))

    def targets(self, dataset: str, teacher: zoo.ModelSpec, teacher_name: str, eps: float | None,
                permute: bool) -> bool:
        """Whether these IR targets are cached; else list their computation once the teacher (and, for permuted
        targets, the plain ones) are."""
        if self._known(("targets", dataset, teacher_name, eps, permute),
                       lambda: _targets.is_done(dataset, teacher_name, self.profile, eps, permute)):
            return True
        if not self.model(teacher, urgent=True):
            return False
        if permute and not self.targets(dataset, teacher, teacher_name, eps, False):
            return False
        self._add(0, ("targets", dataset, teacher_name, self.profile, eps, permute))
        return False

    def evaluation(self, *job, urgent: bool = False) -> bool:
        if self._known(job, lambda: _jobs.is_done(*job)):
            return True
        self._add(0 if urgent else 2, job)
        return False

    def evaluations(self, specs: dict[str, list[zoo.ModelSpec]], eps: float, grads: bool) -> None:
        """Every evaluation of every trained model of ``specs``."""
        for v in specs.values():
            for i, s in enumerate(v):
                if self.cached(s):
                    # the masking check reuses the PGD run at ε of the robustness evaluation: listed after it
                    if self.evaluation("robustness", s, eps, self.profile) and i == 0:
                        self.evaluation("masking", s, eps, self.profile)
                    if grads:
                        self.evaluation("gradient_norms", s, self.profile)

    def ready(self) -> list[tuple]:
        return [j for *_, j in sorted(self.jobs, key=lambda t: t[:2])]


def _m(ds: str, regime: str, seed: int, profile: str, **kw) -> zoo.ModelSpec:
    return _cohort.spec(_cohort.NoackModel(ds, regime, seed, **kw), profile)


def _rows(losses: dict[float, float], ref: float, name: str, chosen: float, *, grid=None) -> list[dict[str, Any]]:
    """The calibration table: per grid value its final training loss and distance to the reference; a value of
    ``grid`` the bisection did not need (not trained for it) has none."""
    keys = sorted(float(g) for g in (losses if grid is None else grid))
    return [{name: k, "final training loss": losses.get(k, np.nan),
             "|Δ| to the reference": abs(losses[k] - ref) if k in losses else np.nan,
             "trained for the search": k in losses, "chosen": k == chosen} for k in keys]


def _mnist(p: _Plan) -> dict[str, Any] | None:
    """Table 1's nets: std and adv; targets of both teachers; the three IR regimes; the λ_J grid, the rule's choice
    and the Jacobian nets; every evaluation. None while something is missing."""
    profile = p.profile
    P = profiles.get(profile).noack
    seeds, s0 = list(P.seeds), P.seeds[0]
    eps = _cohort.attack_eps(MNIST, profile)
    std = [_m(MNIST, "std", s, profile) for s in seeds]
    adv = [_m(MNIST, "adv", s, profile, eps=eps) for s in seeds]
    p.models(std[:1] + adv[:1], urgent=True)  # the teachers
    p.models(std[1:] + adv[1:])
    grid = {float(lam): _m(MNIST, "jacobian", s0, profile, lam=lam) for lam in P.lam_j_grid}
    lam1 = {"ir-r": P.lam_ir_r, "ir-r-perm": P.lam_ir_r_perm, "ir-nr": P.lam_ir_nr}
    specs: dict[str, list[zoo.ModelSpec]] = {"std": std, "adv": adv}
    for r, lam in lam1.items():
        t_name, permute = _cohort.TEACHERS[r]
        t_eps = eps if t_name == "adv" else None
        if p.targets(MNIST, (adv if t_name == "adv" else std)[0], t_name, t_eps, permute):
            specs[r] = [p.ir(MNIST, r, lam, s, eps) for s in seeds]
            p.model(specs[r][0], urgent=(r == "ir-r"))
            p.models(specs[r][1:])
    out = None
    ref = p.final_loss(specs["ir-r"][0]) if "ir-r" in specs and p.cached(specs["ir-r"][0]) else None
    lam_j, rows = p.calibrate(grid, ref, "λ_J")
    if lam_j is not None:
        specs["jacobian"] = [_m(MNIST, "jacobian", s, profile, lam=lam_j) for s in seeds]
        p.models(specs["jacobian"])
        out = {"eps": eps, "lam_j": lam_j, "reference_loss": ref, "calibration": {"lam_j": rows}}
    p.evaluations(specs, eps, grads=True)
    if out is None or set(specs) != set(_cohort.REGIMES):
        return None
    return {"specs": {r: specs[r] for r in _cohort.REGIMES}, **out}


def _substitute(p: _Plan) -> dict[str, Any] | None:
    """Table 2's nets: the ε rule on the seed-0 standard net, then adv, the targets, the IR λ grid and the rule's
    choice, the IR nets, the λ_J grid and the rule's choice, the Jacobian nets; every evaluation."""
    profile = p.profile
    P, S = profiles.get(profile).noack, profiles.get(profile).noack_sub
    seeds, s0 = list(P.seeds), P.seeds[0]
    std = [_m(SUB, "std", s, profile) for s in seeds]
    p.model(std[0], urgent=True)
    p.models(std[1:])
    jgrid = {float(lam): _m(SUB, "jacobian", s0, profile, lam=lam) for lam in P.lam_j_grid}
    p.calibrate(jgrid, None, "λ_J")  # the search's first net needs no reference: train it early
    specs: dict[str, list[zoo.ModelSpec]] = {"std": std}
    out: dict[str, Any] = {}
    try:
        if not p.cached(std[0]) or not all([p.evaluation("robustness", std[0], float(e), profile, urgent=True)
                                                 for e in S.eps_candidates]):
            return None
        acc_e = {float(e): float(_jobs.robustness(std[0], float(e), profile)["adv"].mean()) for e in S.eps_candidates}
        eps = out["eps"] = nearest(acc_e, S.target_std_acc)
        out["calibration"] = {"eps": [{"ε (L2, [0, 1])": e, "standard net's PGD accuracy": a, "chosen": e == eps}
                                      for e, a in acc_e.items()]}
        adv = specs["adv"] = [_m(SUB, "adv", s, profile, eps=eps) for s in seeds]
        p.model(adv[0], urgent=True)
        p.models(adv[1:])
        if not p.targets(SUB, adv[0], "adv", eps, False):
            return None
        irgrid = {float(lam): p.ir(SUB, "ir", lam, s0, eps) for lam in S.lam_ir_grid}
        adv_loss = p.final_loss(adv[0]) if p.cached(adv[0]) else None
        lam_ir, rows = p.calibrate(irgrid, adv_loss, "λ")
        if lam_ir is None:
            return None
        out["adv_loss"], out["lam_ir"], out["calibration"]["lam_ir"] = adv_loss, lam_ir, rows
        ir = specs["ir"] = [p.ir(SUB, "ir", lam_ir, s, eps) for s in seeds]
        p.models(ir)
        lam_j, rows = p.calibrate(jgrid, p.final_loss(ir[0]) if p.cached(ir[0]) else None, "λ_J")
        if lam_j is None:
            return None
        out["ir_loss"], out["lam_j"], out["calibration"]["lam_j"] = p.final_loss(ir[0]), lam_j, rows
        specs["jacobian"] = [_m(SUB, "jacobian", s, profile, lam=lam_j) for s in seeds]
        p.models(specs["jacobian"])
    finally:
        if "eps" in out:
            p.evaluations(specs, out["eps"], grads=False)
    return {"specs": {r: specs[r] for r in _cohort.SUB_REGIMES}, **out}


def _plan(profile: str, memo: dict[str, Any]) -> tuple[list[tuple], dict[str, Any] | None]:
    p = _Plan(profile, memo)
    result = {MNIST: _mnist(p), SUB: _substitute(p)}
    return p.ready(), (result if p.complete and None not in result.values() else None)


@functools.lru_cache(maxsize=4)
def chapter(profile: str) -> dict[str, Any]:
    """Train and evaluate everything of Tables 1–3 (cached); returns ``{"mnist": …, "fashion-mnist": …}``, each
    ``{"specs": {regime: [spec per seed]}, "eps", "lam_j", "calibration": {...}, ...}`` (the substitute also
    ``lam_ir``). Evaluations are cached; read them with :mod:`rilib.papers.noack2021.jobs`.

    The work is one dependency graph (:class:`_Plan`) run by :func:`rilib.parallel.run_plan`: a job starts as soon
    as what it needs is cached, the jobs on the way to a calibration choice first, evaluations filling the gaps."""
    memo: dict[str, Any] = {}
    return parallel.run_plan(lambda: _plan(profile, memo), _do, desc="Noack: nets and evaluations")


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
