"""Etmann et al. (2019): the two model cohorts of the chapter.

Two cohorts of models trained with double backpropagation over a grid of λ (Sec 4):

* **MNIST cohort** — the paper's SmallNet (appendix) on MNIST (the 5 000-image subset unless the full IDX files
  are supplied);
* **complex cohort** — the paper's ResNet-50 on ImageNet at profile ``paper`` (user-supplied data and weights);
  at ``ci``/``default`` the substitute: :class:`rilib.models.SmallResNet` (batch-norm, skip connections) on
  Fashion-MNIST. The point of the substitute is the paper's contrast "deep, non-linear network on a harder
  dataset" vs "shallow net on MNIST".

λ follows the paper's convention (penalty on the gradient of the *batch-mean* loss, Etmann et al.'s code); the
per-example weight actually used is λ/B² (:meth:`rilib.train.DoubleBackprop.from_paper`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ... import profiles, zoo

__all__ = ["BOUNDS", "ROBUSTNESS_NOTIONS", "COHORTS", "CohortModel", "specs", "cohort", "member", "eval_data",
           "substitute_sentence", "cohort_title"]

#: data bounds of both cohorts' inputs (pixels in [0, 1]; the paper profile's ResNet-50 normalises internally)
BOUNDS = (0.0, 1.0)

#: the paper's robustness notions, in the order of its Figures 2 and 3
ROBUSTNESS_NOTIONS = {"rho_tilde": "linearized ρ̃", "gradient": "gradient attack", "bim": "L2 BIM", "cw": "CW L2"}

COHORTS = {
    "mnist": "MNIST · SmallNet (paper: MNIST, 16 models)",
    "complex": "complex cohort (paper: ImageNet · ResNet-50; here by default: Fashion-MNIST · small BN ResNet)",
}


@dataclass
class CohortModel:
    lam_paper: float  # λ in the paper's convention (batch-mean gradient)
    lam: float  # per-example weight λ/B² actually used
    entry: zoo.ZooEntry

    @property
    def model(self) -> torch.nn.Module:
        return self.entry.model


def specs(name: str, profile: str) -> tuple[list[zoo.ModelSpec], list[float]]:
    P = profiles.get(profile)[f"etmann_{name}"].to_dict()
    lams = np.geomspace(P["lam_min"], P["lam_max"], P["n_models"]).tolist()
    out = []
    for lam_paper in lams:
        out.append(zoo.ModelSpec(
            dataset=P["dataset"], arch=P["arch"], arch_kwargs=P["arch_kwargs"], regime="double_backprop",
            regime_kwargs={"lam": lam_paper / P["batch_size"] ** 2}, epochs=P["epochs"], batch_size=P["batch_size"],
            seed=0, profile=profile, optimizer=P["optimizer"], lr_schedule=P["lr_schedule"],
            data_kwargs=P["data_kwargs"], init_weights=P["init_weights"],
        ))
    return out, lams


def cohort(name: str, profile: str, *, device: str | None = None, progress: bool = True) -> list[CohortModel]:
    """Train (or load from the zoo) every model of cohort ``name`` (``"mnist"`` or ``"complex"``)."""
    specs_, lams = specs(name, profile)
    zoo.prefetch(specs_, device=device, progress=progress)  # the missing ones, in parallel
    out = []
    for spec, lam_paper in zip(specs_, lams):
        entry = zoo.get(spec, device=device, progress=progress)
        out.append(CohortModel(lam_paper, spec.regime_kwargs["lam"], entry))
    return out


def eval_data(name: str, profile: str):
    """The cohort's dataset and the first ``n_eval`` test points (the original evaluated the first 1 000)."""
    specs_, _ = specs(name, profile)
    ds = zoo.load_data(specs_[0])
    n = profiles.get(profile)[f"etmann_{name}"].n_eval
    return ds, ds.x_test[:n], ds.y_test[:n]


def member(name: str, profile: str, index: int, *, device: str | None = None,
           progress: bool = False) -> CohortModel:
    """Model ``index`` of cohort ``name`` (trained now if it is not in the zoo)."""
    specs_, lams = specs(name, profile)
    return CohortModel(lams[index], specs_[index].regime_kwargs["lam"],
                       zoo.get(specs_[index], device=device, progress=progress))


def substitute_sentence(profile: str) -> str | None:
    """The sentence every page of the chapter shows about the complex cohort's substitute (None at ``paper``)."""
    if profile == "paper":
        return None
    return ("Paper: ImageNet, ResNet-50 fine-tuned from pretrained weights. Here: Fashion-MNIST and a small batch-norm "
            "ResNet trained from scratch, because ImageNet and pretrained weights are not available offline; it keeps "
            "the paper's contrast of a deeper, more non-linear network on a harder dataset against a shallow net on "
            "MNIST, not its scale.")


def cohort_title(name: str, profile: str) -> str:
    if name == "mnist":
        return "MNIST"
    return "ImageNet" if profile == "paper" else "Fashion-MNIST (ImageNet substitute)"
