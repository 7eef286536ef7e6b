"""What each page of the chapter needs before it runs (read by the runner's preflight, :mod:`rilib.preflight`)."""
from __future__ import annotations

from ... import profiles
from . import checks, cohort, manifold, toy


def needs(stem: str, profile: str) -> tuple[list, list, list]:
    """``(known specs, dependent specs, other files)`` of page ``stem``."""
    P = profiles.get(profile)
    datasets = list(P.kim_models.datasets)

    def classifiers(dss):
        return [cohort.spec(m, profile) for ds in dss for m in cohort.cohort(ds, profile)]

    if stem.startswith("fig3"):
        return [toy.spec(n, s, profile) for s in P.kim_toy.seeds for n in toy.MODELS], [], []
    if stem.startswith("fig4"):
        return classifiers([P.kim_roar.dataset]), [], []
    if stem == "vaegan":
        return [manifold.vaegan_spec(ds, profile) for ds in datasets], [], []
    if stem.startswith("fig1"):
        return classifiers(datasets) + [manifold.vaegan_spec(ds, profile) for ds in datasets], [], []
    if stem == "models":
        return classifiers(datasets) + list(checks.check_specs(profile).values()), [], []
    return classifiers(datasets), [], []
