"""Noack et al. (2021): the models of Tables 1–3 — per dataset and seed, one net per training regime.

Regimes (Sec 4, Table 1): ``std`` (cross-entropy), ``adv`` (L2 PGD adversarial training with random start, on the
adversarial examples alone, ε = 1.5 on MNIST), ``jacobian`` (cross-entropy + λ_J‖J‖_F, eq. (7), λ_J by the paper's
rule: :func:`rilib.papers.noack2021.calibrate`), and interpretation regularisation (eq. (3), cross-entropy +
λ‖|∇ₓ z_y| − T(x)‖₂) with targets T: ``ir-r`` (thresholded SmoothGrad of the seed-0 ``adv`` net), ``ir-r-perm``
(the same targets, values permuted within each map), ``ir-nr`` (thresholded SmoothGrad of the seed-0 ``std`` net).
Fashion-MNIST (the substitute for CIFAR-10, Table 2) has ``std``, ``adv``, ``jacobian`` and ``ir`` (= ``ir-r``).

Training as Sec 4: SGD, momentum 0.9, lr 0.01 divided by 10 every 10 epochs, batch 64; the MNIST net with dropout
(:class:`rilib.models.NoackMNISTCNN`) for both datasets. The paper gives no epoch count (profile ``noack.epochs``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ... import profiles, zoo

__all__ = ["NoackModel", "REGIMES", "SUB_REGIMES", "LABELS", "TEACHERS", "spec", "data_kwargs", "attack_eps"]

#: Table 1's regimes, in the paper's row order
REGIMES = ("std", "adv", "jacobian", "ir-r", "ir-r-perm", "ir-nr")
#: Table 2's regimes (``ir``: interpretation regularisation with the adversarially trained net's targets)
SUB_REGIMES = ("std", "adv", "jacobian", "ir")
LABELS = {"std": "Std. Training", "adv": "Adv. Training", "jacobian": "Jacobian Reg.", "ir-r": "Interp. Reg. R.",
          "ir-r-perm": "Interp. Reg. R. Perm.", "ir-nr": "Interp. Reg. N.R.", "ir": "Interp. Reg."}
#: the teacher whose SmoothGrad maps are an IR regime's targets, and whether they are permuted
TEACHERS = {"ir-r": ("adv", False), "ir-r-perm": ("adv", True), "ir-nr": ("std", False), "ir": ("adv", False)}


@dataclass(frozen=True)
class NoackModel:
    """One net: ``regime`` of :data:`REGIMES` / :data:`SUB_REGIMES`, ``lam`` its regulariser weight (None: none or
    the profile's value), ``eps`` the adversarial-training ε (``adv`` only)."""

    dataset: str
    regime: str
    seed: int = 0
    lam: float | None = None
    eps: float | None = None

    @property
    def label(self) -> str:
        return LABELS[self.regime]


def data_kwargs(dataset: str, profile: str) -> dict[str, Any]:
    return profiles.get(profile).noack.data_kwargs.to_dict()[dataset]


def attack_eps(dataset: str, profile: str, chosen: float | None = None) -> float:
    """The L2 ε of the attack (and of adversarial training): the paper's 1.5 on MNIST; on the substitute the value
    chosen by the rule of profile ``noack_sub`` (pass it as ``chosen``)."""
    if dataset == "mnist":
        return float(profiles.get(profile).noack.eps)
    if chosen is None:
        raise ValueError(f"the attack ε on {dataset} is chosen by a rule (rilib.papers.noack2021.calibrate.choose_eps);"
                         " pass it as chosen=")
    return float(chosen)


def spec(m: NoackModel, profile: str, *, extras: dict[str, Any] | None = None) -> zoo.ModelSpec:
    """The zoo spec of ``m``. IR regimes need ``extras`` (their targets, :func:`rilib.papers.noack2021.targets.ir_targets`)
    and a ``lam``; ``jacobian`` needs ``lam``; ``adv`` needs ``eps``."""
    P = profiles.get(profile).noack
    common = dict(dataset=m.dataset, arch="noack_mnist_cnn", epochs=P.epochs, batch_size=P.batch_size, seed=m.seed,
                  profile=profile, optimizer={"name": "sgd", "lr": P.lr, "momentum": 0.9},
                  lr_schedule={"step_size": 10, "gamma": 0.1}, data_kwargs=data_kwargs(m.dataset, profile))
    if m.regime == "std":
        return zoo.ModelSpec(regime="ce", **common)
    if m.regime == "adv":
        if m.eps is None:
            raise ValueError("an adv model needs eps")
        return zoo.ModelSpec(regime="adversarial", regime_kwargs={
            "eps": float(m.eps), "norm": "l2", "steps": P.train_steps, "step_size": P.train_step, "loss": "ce",
            "random_start": True, "adversarial_only": True, "bounds": [0.0, 1.0]}, **common)
    if m.lam is None:
        raise ValueError(f"a {m.regime} model needs lam")
    if m.regime == "jacobian":
        return zoo.ModelSpec(regime="jacobian", regime_kwargs={"lam": float(m.lam),
                                                               "projections": P.jacobian_projections}, **common)
    if m.regime in TEACHERS:
        if extras is None:
            raise ValueError(f"a {m.regime} model needs its targets: spec(..., extras=ir_targets(...)['extras'])")
        return zoo.ModelSpec(regime="interpretation", regime_kwargs={"lam": float(m.lam), "absolute": True},
                             extras=extras, **common)
    raise ValueError(f"unknown Noack regime {m.regime!r}; known: {', '.join((*REGIMES, 'ir'))}")
