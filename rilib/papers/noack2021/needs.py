"""What each page of the chapter needs before it runs (read by the runner's preflight, :mod:`rilib.preflight`)."""
from __future__ import annotations

from ... import profiles
from . import cohort


def needs(stem: str, profile: str) -> tuple[list, list, list]:
    """``(known specs, dependent specs, other files)``: every page reads the whole graph of :mod:`.build`. MNIST's
    standard and adversarially trained nets are known up front; the Jacobian λ, the substitute's ε and λ and the
    interpretation targets are chosen from earlier results, so those nets are *dependent*, specified here with
    stand-in values for the cost probe only."""
    P = profiles.get(profile).noack
    known, dependent = [], []
    stand_in = {"name": "pending", "digest": "pending", "arrays": ["targets"]}
    for ds in P.datasets:
        regimes = cohort.REGIMES if ds == "mnist" else cohort.SUB_REGIMES
        for seed in P.seeds:
            for r in regimes:
                m = cohort.NoackModel(ds, r, seed, lam=1.0, eps=cohort.attack_eps(ds, profile, chosen=1.0))
                s = cohort.spec(m, profile, extras=stand_in if r in cohort.TEACHERS else None)
                (known if ds == "mnist" and r in ("std", "adv") else dependent).append(s)
    return known, dependent, []
