"""Wang et al. (2022), part 1: the models. The paper's ResNet-50s (ImageNet: standard, ℓ2|3.0, ℓ∞|4/255, ℓ∞|8/255;
CIFAR-10: standard, ℓ2|0.5) are replaced by Kim et al.'s Fashion-MNIST nets — the same zoo entries the Kim chapter
trains (same spec, same key): a standard net, L2 and L∞ adversarially trained nets at two ε each (ε in [0, 1]).
"""
from __future__ import annotations

from ... import profiles, zoo
from ..kim2019 import cohort as _kim

__all__ = ["kim_model", "spec", "names", "label", "is_robust", "norm", "eps", "key"]


def kim_model(name: str, profile: str) -> _kim.KimModel:
    """``standard`` or ``<norm>-<objective>-<ε>`` (e.g. ``l2-ce-1``) as a Kim et al. model."""
    ds = profiles.get(profile).wang.dataset
    if name == "standard":
        return _kim.KimModel(ds)
    try:
        n, o, e = name.split("-")
        return _kim.KimModel(ds, n, o, float(e))
    except ValueError:
        raise ValueError(f"unknown Wang model {name!r}: 'standard' or '<l2|linf>-<ce|cw>-<eps>'") from None


def spec(name: str, profile: str) -> zoo.ModelSpec:
    return _kim.spec(kim_model(name, profile), profile)


def names(profile: str) -> list[str]:
    return list(profiles.get(profile).wang.models)


def is_robust(name: str) -> bool:
    return name != "standard"


def norm(name: str) -> str | None:
    return kim_model(name, "default").norm


def eps(name: str) -> float:
    return kim_model(name, "default").eps


def label(name: str) -> str:
    """``standard``, ``ℓ2|1`` or ``ℓ∞|0.1`` (ε in [0, 1]), as the paper's table rows."""
    if name == "standard":
        return "standard"
    return f"{'ℓ2' if norm(name) == 'l2' else 'ℓ∞'}|{eps(name):g}"


def key(name: str) -> str:
    """``name`` as part of a record name (a Python identifier): ``l2-ce-1`` → ``l2_1``, ``linf-ce-0.05`` →
    ``linf_0p05``, ``standard`` → ``std``."""
    if name == "standard":
        return "std"
    n, _, e = name.split("-")
    return f"{n}_{e.replace('.', 'p')}"
