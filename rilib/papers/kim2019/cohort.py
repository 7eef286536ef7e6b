"""Kim et al. (2019): the classifiers of Figs 1, 2 and 4–6 — per dataset a standard net and nets adversarially
trained over the paper's ε grids for both norms and both objectives (Sec 2.1, Sec 3.2, appendix A.2 / B).

Training as the paper's code: Adam 1e-3, batch 100 (32 at the default profile: see the profile table); adversarial training on the adversarial examples alone
(no clean loss), PGD without random start, objective cross-entropy (``"ce"``, XEnt) or the Carlini–Wagner margin
max_{j≠y} z_j − z_y (``"cw"``). Every ε here is in the book's [0, 1] pixel scale; the paper's [−1, 1] values are
twice these (:attr:`KimModel.eps_paper`). The step sizes are not in the paper; the code's are 2 (L2, along the
normalised gradient) and 0.02 (L∞, sign) in its scale, 1.0 and 0.01 here; with fewer than 40 steps the step is
the larger of the code's step and 2.5·ε/k (Madry et al.'s rule; :func:`step_size`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ... import profiles, zoo

__all__ = ["KimModel", "cohort", "spec", "step_size", "data_kwargs", "NORMS", "OBJECTIVES", "PANELS"]

NORMS = ("l2", "linf")
OBJECTIVES = ("ce", "cw")
#: the four (norm, objective) panels of Figs 1, 4 and 5
PANELS = tuple((n, o) for n in NORMS for o in OBJECTIVES)
_OBJ_NAME = {"ce": "XEnt", "cw": "CW"}
_NORM_NAME = {"l2": "L2", "linf": "L∞"}


@dataclass(frozen=True)
class KimModel:
    """One classifier of the chapter: ``norm`` None is the standard net (ε = 0)."""

    dataset: str
    norm: str | None = None
    objective: str = "ce"
    eps: float = 0.0

    @property
    def name(self) -> str:
        """``standard`` or ``<norm>-<objective>-<ε>`` (ε in [0, 1]), e.g. ``l2-ce-0.5``."""
        return "standard" if self.norm is None else f"{self.norm}-{self.objective}-{self.eps:g}"

    @property
    def eps_paper(self) -> float:
        """ε in the paper's [−1, 1] pixel scale."""
        return 2.0 * self.eps

    @property
    def label(self) -> str:
        """``standard`` or e.g. ``L2-XEnt ε = 1 (0.5 in [0, 1])``."""
        if self.norm is None:
            return "standard"
        return f"{_NORM_NAME[self.norm]}-{_OBJ_NAME[self.objective]} ε = {self.eps_paper:g} ({self.eps:g} in [0, 1])"


def cohort(dataset: str, profile: str) -> list[KimModel]:
    """The standard net and one net per (norm, objective, ε) of the profile's grids (13 at every profile)."""
    P = profiles.get(profile).kim_models
    out = [KimModel(dataset)]
    for norm, objective in PANELS:
        if objective not in P.objectives:
            continue
        for eps in (P.eps_l2 if norm == "l2" else P.eps_linf):
            out.append(KimModel(dataset, norm, objective, float(eps)))
    return out


def panel(models: list[KimModel], norm: str, objective: str) -> list[KimModel]:
    """The standard net followed by the nets of one (norm, objective) panel, in increasing ε."""
    std = [m for m in models if m.norm is None]
    return std + sorted((m for m in models if m.norm == norm and m.objective == objective), key=lambda m: m.eps)


def step_size(norm: str, eps: float, steps: int, profile: str) -> float:
    """PGD step of adversarial training: the larger of the code's step (1.0 for L2, 0.01 for L∞ in [0, 1]) and
    2.5·ε/k (Madry et al.'s rule, so that k steps can reach the ε-sphere). At k = 40 it is the code's step for
    every ε of the paper's grids."""
    P = profiles.get(profile).kim_models
    base = P.step_l2 if norm == "l2" else P.step_linf
    return float(max(base, 2.5 * eps / steps))


def data_kwargs(profile: str) -> dict[str, Any]:
    """Subset sizes of the profile (none at the paper profile: all the data that is there)."""
    P = profiles.get(profile).kim_models
    return {k: v for k, v in (("n_train", P.n_train), ("n_test", P.n_test)) if v is not None}


def spec(m: KimModel, profile: str, *, seed: int = 0) -> zoo.ModelSpec:
    """The zoo spec of model ``m``: the Kim CNN (:class:`rilib.models.KimCNN`) trained as the paper's code did."""
    P = profiles.get(profile).kim_models
    common = dict(dataset=m.dataset, arch="kim_cnn", arch_kwargs=P.arch_kwargs.to_dict(), epochs=P.epochs,
                  batch_size=P.batch_size, seed=seed, profile=profile, optimizer={"name": "adam", "lr": 1e-3},
                  data_kwargs=data_kwargs(profile))
    if m.norm is None:
        return zoo.ModelSpec(regime="ce", **common)
    return zoo.ModelSpec(regime="adversarial", regime_kwargs={
        "eps": m.eps, "norm": m.norm, "steps": P.train_steps, "step_size": step_size(m.norm, m.eps, P.train_steps, profile),
        "loss": m.objective, "random_start": False, "adversarial_only": True, "bounds": [0.0, 1.0]}, **common)
