"""Noack et al. (2021): train every model of Tables 1 and 2 in dependency order, with the paper's calibration rules.

Table 1 (MNIST): ``std`` and ``adv`` for every seed; then the targets (thresholded SmoothGrad of the seed-0 ``adv``
and ``std`` nets); then the three IR regimes for every seed beside the λ_J grid of ``jacobian`` at seed 0; λ_J is
the grid value whose final training loss (the mean of the regime's loss over the last epoch) is nearest the seed-0
IR-R net's — the paper's rule, Sec 4.2 —; then ``jacobian`` at λ_J for the other seeds.

Table 2 (Fashion-MNIST, the substitute for CIFAR-10; profile ``noack_sub``): the attack ε is the candidate at which
the seed-0 standard net's PGD accuracy is nearest 15 %; ``adv`` trains at that ε; the IR λ is the grid value whose
final training loss is nearest the seed-0 ``adv`` net's (the rule the spec gives for the substitute); λ_J as above
against the chosen IR net. Every choice is a table the page shows. Each phase trains in parallel worker processes
(:func:`rilib.zoo.prefetch`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ... import profiles, zoo
from . import cohort as _cohort
from . import jobs as _jobs
from . import targets as _targets

__all__ = ["final_loss", "nearest", "table1_models", "table2_models", "choose_eps", "teachers", "seed_values"]


def final_loss(spec: zoo.ModelSpec) -> float:
    """The regime's training loss averaged over the last epoch (from the zoo entry's history)."""
    return float(zoo.get(spec, device="cpu", progress=False).meta["train_loss"][-1])


def nearest(values: dict[float, float], reference: float) -> float:
    """The key whose value is nearest ``reference`` (the smaller key on a tie)."""
    return min(sorted(values), key=lambda k: abs(values[k] - reference))


def _specs_ir(dataset: str, regime: str, lam: float, seeds, profile: str, *, teacher_eps: float | None,
              device) -> list[zoo.ModelSpec]:
    teacher, permute = _cohort.TEACHERS[regime]
    t = _targets.ir_targets(dataset, teacher, profile, teacher_eps=teacher_eps if teacher == "adv" else None,
                            permute=permute, device=device)
    return [_cohort.spec(_cohort.NoackModel(dataset, regime, s, lam=lam), profile, extras=t["extras"]) for s in seeds]


def _jacobian(dataset: str, seeds, grid, reference: float, profile: str, device, also=()) -> tuple[float, list, list]:
    """Train the λ_J grid at seed 0 (with the specs ``also`` in the same parallel batch), pick λ_J nearest
    ``reference``, train the other seeds; returns (λ_J, calibration rows, specs per seed)."""
    jspec = lambda lam, s: _cohort.spec(_cohort.NoackModel(dataset, "jacobian", s, lam=lam), profile)  # noqa: E731
    zoo.prefetch([jspec(lam, seeds[0]) for lam in grid] + list(also), device=device)
    losses = {float(lam): final_loss(jspec(lam, seeds[0])) for lam in grid}
    chosen = nearest(losses, reference)
    specs = [jspec(chosen, s) for s in seeds]
    zoo.prefetch(specs, device=device)
    rows = [{"λ_J": lam, "final training loss": loss, "|Δ| to the reference": abs(loss - reference),
             "chosen": lam == chosen} for lam, loss in losses.items()]
    return chosen, rows, specs


def table1_models(profile: str, *, device: str | None = None) -> dict[str, Any]:
    """``{"specs": {regime: [spec per seed]}, "lam_j": λ_J, "calibration": rows, "eps": 1.5}`` for MNIST."""
    P = profiles.get(profile).noack
    ds, seeds, eps = "mnist", list(P.seeds), _cohort.attack_eps("mnist", profile)
    specs: dict[str, list[zoo.ModelSpec]] = {
        "std": [_cohort.spec(_cohort.NoackModel(ds, "std", s), profile) for s in seeds],
        "adv": [_cohort.spec(_cohort.NoackModel(ds, "adv", s, eps=eps), profile) for s in seeds],
    }
    zoo.prefetch(specs["std"] + specs["adv"], device=device)
    lams = {"ir-r": P.lam_ir_r, "ir-r-perm": P.lam_ir_r_perm, "ir-nr": P.lam_ir_nr}
    _targets.prepare_targets(ds, {"adv": eps, "std": None}, profile, device=device)
    for regime, lam in lams.items():
        specs[regime] = _specs_ir(ds, regime, lam, seeds, profile, teacher_eps=eps, device=device)
    ir_all = [s for r in lams for s in specs[r]]
    zoo.prefetch(ir_all + [_cohort.spec(_cohort.NoackModel(ds, "jacobian", seeds[0], lam=lam), profile)
                           for lam in P.lam_j_grid], device=device)
    reference = final_loss(specs["ir-r"][0])
    lam_j, rows, specs["jacobian"] = _jacobian(ds, seeds, P.lam_j_grid, reference, profile, device)
    order = {r: specs[r] for r in _cohort.REGIMES}
    return {"specs": order, "lam_j": lam_j, "calibration": rows, "reference_loss": reference, "eps": eps}


def choose_eps(profile: str, *, device: str | None = None) -> tuple[float, list[dict[str, Any]]]:
    """The substitute's attack ε: the candidate at which the seed-0 standard net's PGD accuracy is nearest the
    profile's target (15 %), and the rows of that choice."""
    P, S = profiles.get(profile).noack, profiles.get(profile).noack_sub
    std = _cohort.spec(_cohort.NoackModel("fashion-mnist", "std", P.seeds[0]), profile)
    zoo.prefetch([std], device=device)
    accs = {float(e): float(_jobs.robustness(std, e, profile, device=device)["adv"].mean())
            for e in S.eps_candidates}
    chosen = nearest(accs, S.target_std_acc)
    rows = [{"ε (L2, [0, 1])": e, "standard net's PGD accuracy": a, "chosen": e == chosen} for e, a in accs.items()]
    return chosen, rows


def teachers(dataset: str, profile: str, *, device: str | None = None) -> dict[str, Any]:
    """The seed-0 standard and adversarially trained nets of ``dataset`` (the targets' teachers), trained:
    ``{"std": spec, "adv": spec, "eps": the adversarial ε}`` (on the substitute ε comes from :func:`choose_eps`)."""
    P = profiles.get(profile).noack
    eps = _cohort.attack_eps(dataset, profile) if dataset == "mnist" else choose_eps(profile, device=device)[0]
    out = {"std": _cohort.spec(_cohort.NoackModel(dataset, "std", P.seeds[0]), profile),
           "adv": _cohort.spec(_cohort.NoackModel(dataset, "adv", P.seeds[0], eps=eps), profile)}
    zoo.prefetch(list(out.values()), device=device)
    return {**out, "eps": eps}


def table2_models(profile: str, *, device: str | None = None) -> dict[str, Any]:
    """``{"specs": {regime: [spec per seed]}, "eps", "lam_ir", "lam_j", "calibration": {...}}`` for the substitute."""
    P, S = profiles.get(profile).noack, profiles.get(profile).noack_sub
    ds, seeds = "fashion-mnist", list(P.seeds)
    eps, eps_rows = choose_eps(profile, device=device)
    specs: dict[str, list[zoo.ModelSpec]] = {
        "std": [_cohort.spec(_cohort.NoackModel(ds, "std", s), profile) for s in seeds],
        "adv": [_cohort.spec(_cohort.NoackModel(ds, "adv", s, eps=eps), profile) for s in seeds],
    }
    zoo.prefetch(specs["std"] + specs["adv"], device=device)
    adv_loss = final_loss(specs["adv"][0])
    grid = {float(lam): _specs_ir(ds, "ir", lam, seeds[:1], profile, teacher_eps=eps, device=device)[0]
            for lam in S.lam_ir_grid}
    zoo.prefetch(list(grid.values()), device=device)
    ir_losses = {lam: final_loss(s) for lam, s in grid.items()}
    lam_ir = nearest(ir_losses, adv_loss)
    specs["ir"] = _specs_ir(ds, "ir", lam_ir, seeds, profile, teacher_eps=eps, device=device)
    ir_rows = [{"λ": lam, "final training loss": loss, "|Δ| to the reference": abs(loss - adv_loss),
                "chosen": lam == lam_ir} for lam, loss in ir_losses.items()]
    reference = final_loss(specs["ir"][0])
    lam_j, j_rows, specs["jacobian"] = _jacobian(ds, seeds, P.lam_j_grid, reference, profile, device,
                                                 also=specs["ir"][1:])
    order = {r: specs[r] for r in _cohort.SUB_REGIMES}
    return {"specs": order, "eps": eps, "lam_ir": lam_ir, "lam_j": lam_j, "adv_loss": adv_loss,
            "ir_loss": reference, "calibration": {"eps": eps_rows, "lam_ir": ir_rows, "lam_j": j_rows}}


def seed_values(per_seed: list[dict[str, np.ndarray]], name: str) -> np.ndarray:
    """One accuracy per seed: the mean of the per-point booleans ``name`` of each seed's evaluation."""
    return np.asarray([float(np.mean(r[name])) for r in per_seed])
