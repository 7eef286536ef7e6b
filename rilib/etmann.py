"""Etmann et al. (2019): the two model cohorts and their per-point measurements, shared by the chapter's notebooks.

Two cohorts of models trained with double backpropagation over a grid of λ (Sec 4):

* **MNIST cohort** — the paper's SmallNet (appendix) on MNIST (the 5 000-image subset unless the full IDX files
  are supplied);
* **complex cohort** — the paper's ResNet-50 on ImageNet at profile ``paper`` (user-supplied data and weights);
  at ``ci``/``default`` the substitute: :class:`rilib.models.SmallResNet` (batch-norm, skip connections) on
  Fashion-MNIST. The point of the substitute is the paper's contrast "deep, non-linear network on a harder
  dataset" vs "shallow net on MNIST".

λ follows the paper's convention (penalty on the gradient of the *batch-mean* loss, Etmann et al.'s code); the
per-example weight actually used is λ/B² (:meth:`rilib.train.DoubleBackprop.from_paper`).

:func:`measure` evaluates one model on the first ``n_eval`` test points: the geometry kernel (α, α†, ρ̃, β and the
bound terms of Theorems 2 and 3) and three attack distances, all against the *predicted* class — the gradient
attack (line search along the loss gradient), L2 basic iterative (smallest successful ε of a grid) and
Carlini–Wagner L2. A failed attack is +∞ (as in the original code: it counts in medians), and the failure share
is reported beside every median. Results are cached next to the models (:func:`rilib.zoo.cached_arrays`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import attacks, geometry, profiles, zoo

__all__ = ["COHORTS", "cohort", "member", "measure", "cw_check", "theorem_checks", "prepare", "measured_cohort",
           "summarize", "shown_index", "substitute_sentence", "CohortModel", "ROBUSTNESS_NOTIONS",
           "affine_exact_distance", "Shifted", "homogeneous_copy"]

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


def _specs(name: str, profile: str) -> tuple[list[zoo.ModelSpec], list[float]]:
    P = profiles.get(profile)[f"etmann_{name}"].to_dict()
    lams = np.geomspace(P["lam_min"], P["lam_max"], P["n_models"]).tolist()
    specs = []
    for lam_paper in lams:
        specs.append(zoo.ModelSpec(
            dataset=P["dataset"], arch=P["arch"], arch_kwargs=P["arch_kwargs"], regime="double_backprop",
            regime_kwargs={"lam": lam_paper / P["batch_size"] ** 2}, epochs=P["epochs"], batch_size=P["batch_size"],
            seed=0, profile=profile, optimizer=P["optimizer"], lr_schedule=P["lr_schedule"],
            data_kwargs=P["data_kwargs"], init_weights=P["init_weights"],
        ))
    return specs, lams


def cohort(name: str, profile: str, *, device: str | None = None, progress: bool = True) -> list[CohortModel]:
    """Train (or load from the zoo) every model of cohort ``name`` (``"mnist"`` or ``"complex"``)."""
    specs, lams = _specs(name, profile)
    zoo.prefetch(specs, device=device, progress=progress)  # the missing ones, in parallel
    ds = zoo.load_data(specs[0])
    out = []
    for spec, lam_paper in zip(specs, lams):
        entry = zoo.get(spec, dataset=ds, device=device, progress=progress)
        out.append(CohortModel(lam_paper, spec.regime_kwargs["lam"], entry))
    return out


def eval_data(name: str, profile: str):
    """The cohort's dataset and the first ``n_eval`` test points (the original evaluated the first 1 000)."""
    specs, _ = _specs(name, profile)
    ds = zoo.load_data(specs[0])
    n = profiles.get(profile)[f"etmann_{name}"].n_eval
    return ds, ds.x_test[:n], ds.y_test[:n]


def _measure_key(spec_key: str, x: torch.Tensor, profile: str, bounds) -> dict[str, Any]:
    A = profiles.get(profile).etmann_attacks
    return {"model": spec_key, "n": int(x.shape[0]), "x_sum": float(x.double().sum()), "attacks": A.to_dict(),
            "bounds": list(bounds)}


def measure(cm: CohortModel, x: torch.Tensor, *, profile: str, bounds: tuple[float, float] = BOUNDS,
            name: str = "") -> dict[str, Any]:
    """Geometry and attack distances of one model on ``x`` (cached).

    Returns per point the geometry of :func:`rilib.geometry.geometry` (α, α†, ρ̃, bound terms of Theorems 2 and 3)
    and ``dist_gradient`` (line search along the loss gradient), ``dist_bim`` (smallest successful ε of L2 BIM:
    a grid, then a per-example bisection of its bracket), ``dist_bim_l2`` (the L2 size of that BIM perturbation)
    and ``dist_cw`` (Carlini–Wagner L2); +inf where an attack failed.
    """
    A = profiles.get(profile).etmann_attacks

    def compute() -> dict[str, Any]:
        model = cm.model.eval()
        dev = next(model.parameters()).device
        xd = x.to(dev)
        geo = geometry.geometry(model, xd, theorem3=True, keep_vectors=False, batch_size=A.geometry_batch)
        out = {k: v for k, v in geo.to_numpy().items() if k not in ("logits", "beta")}
        grad = attacks.attack(model, xd, method="gradient", bounds=bounds)
        bim = attacks.attack(model, xd, method="bim", bounds=bounds, epsilons=np.geomspace(*A.bim_eps_range,
                             A.bim_n_eps).tolist(), refine=A.bim_refine, steps=A.bim_steps)
        cw = attacks.attack(model, xd, method="cw", bounds=bounds, steps=A.cw_steps,
                            binary_search_steps=A.cw_binary_steps, stepsize=A.cw_stepsize,
                            initial_const=A.cw_initial_const, abort_early=True)
        out.update(dist_gradient=grad.l2.numpy(), dist_bim=bim.epsilon.numpy(), dist_bim_l2=bim.l2.numpy(),
                   dist_cw=cw.l2.numpy())
        return out

    return zoo.cached_arrays(f"etmann-{name or 'model'}", _measure_key(cm.entry.meta["key"], x, profile, bounds),
                             compute)


def _cw_check_key(spec_key: str, x: torch.Tensor, profile: str) -> dict[str, Any]:
    P = profiles.get(profile)
    xs = x[: P.etmann_cw_check.n_points]
    return {"model": spec_key, "x_sum": float(xs.double().sum()), "n": int(xs.shape[0]),
            "attacks": P.etmann_attacks.to_dict(), "check": P.etmann_cw_check.to_dict()}


def cw_check(cm: CohortModel, x: torch.Tensor, *, profile: str, bounds: tuple[float, float] = BOUNDS,
             name: str = "") -> dict[str, Any]:
    """CW distances at the chapter's setting and with ``steps_factor``× more steps and more binary-search steps.

    The architecture notes warn that Foolbox's CW defaults (9 × 10 000 steps) are far too slow for a CPU and that a
    cheaper setting must be checked against a longer run rather than assumed; this is that check (cached).
    """
    A = profiles.get(profile).etmann_attacks
    C = profiles.get(profile).etmann_cw_check
    xs = x[: C.n_points]

    def compute() -> dict[str, Any]:
        model = cm.model.eval()
        xd = xs.to(next(model.parameters()).device)
        base = attacks.attack(model, xd, method="cw", bounds=bounds, steps=A.cw_steps,
                              binary_search_steps=A.cw_binary_steps, stepsize=A.cw_stepsize,
                              initial_const=A.cw_initial_const, abort_early=True)
        long = attacks.attack(model, xd, method="cw", bounds=bounds, steps=A.cw_steps * C.steps_factor,
                              binary_search_steps=C.binary_search_steps, stepsize=C.stepsize,
                              initial_const=A.cw_initial_const, abort_early=True)
        return {"cw": base.l2.numpy(), "cw_long": long.l2.numpy()}

    return zoo.cached_arrays(f"etmann-cwcheck-{name or 'model'}", _cw_check_key(cm.entry.meta["key"], x, profile),
                             compute)


def homogeneous_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A float64 copy of ``model`` with every bias and batch-norm running mean set to zero (Lemma 2's setting:
    the network becomes positively one-homogeneous)."""
    import copy

    m = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for n in geometry.bias_names(m):
            mod_name, _, leaf = n.rpartition(".")
            mod = m.get_submodule(mod_name) if mod_name else m
            getattr(mod, leaf).zero_()
    return m


def affine_exact_distance(weight: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """Exact L2 distance of each ``x`` to the decision boundary of the affine classifier Ψ(x) = W x + b.

    ``x + δ`` is classified differently iff Ψ^j(x + δ) ≥ Ψ^{i*}(x + δ) for some j ≠ i*; each such set is a half
    space, and the nearest point of a half space is the projection onto its hyperplane. So
    ρ(x) = min_j max(0, Ψ^{i*}(x) − Ψ^j(x)) / ‖W_{i*} − W_j‖ — the setting of Lemma 1, where ρ = ρ̃ (eq. 8). Written
    from the half-space argument, independently of :func:`rilib.geometry.geometry`, to check it.
    """
    logits = x @ weight.T + (bias if bias is not None else 0)
    i = logits.argmax(1)
    diff_w = weight[i][:, None, :] - weight[None, :, :]  # (B, C, d): W_{i*} − W_j
    gap = logits.gather(1, i[:, None]) - logits  # Ψ^{i*} − Ψ^j ≥ 0
    dist = gap.clamp_min(0) / diff_w.norm(dim=2).clamp_min(1e-300)
    dist = dist.masked_fill(torch.nn.functional.one_hot(i, weight.shape[0]).bool(), float("inf"))
    return dist.amin(1)


class Shifted(torch.nn.Module):
    """The same classifier expressed on shifted inputs x' = x − c: ``Shifted(model, c)(x − c) == model(x)``.

    Sec 3.3 of Etmann et al.: robustness is a property of the classifier and does not change, but the alignment
    α = |⟨x', ∇Ψ⟩|/‖∇Ψ‖ depends on the representation x' of the image.
    """

    def __init__(self, model: torch.nn.Module, shift: float | torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("shift", torch.as_tensor(shift, dtype=next(model.parameters()).dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x + self.shift)


def _theorem_key(spec_key: str, x: torch.Tensor) -> dict[str, Any]:
    return {"model": spec_key, "n": int(x.shape[0]), "x_sum": float(x.double().sum()), "dtype": "float64"}


def theorem_checks(cm: CohortModel, x: torch.Tensor, *, name: str = "") -> dict[str, Any]:
    """Theorem 1, Lemma 2 and Theorems 2/3 of Etmann et al. on one trained model, in float64, per point (cached).

    * ``thm1_residual``: |Ψ^i(x) − ⟨x, ∇ₓΨ^i(x)⟩ − ⟨b, ∇_bΨ^i(x)⟩| / max|Ψ|, the bias term computed from the
      parameters (Theorem 1: it vanishes for ReLU / max-pool / eval-BN networks);
    * ``lemma2_rel_err``: |ρ̃ − α†|/ρ̃ on the bias-free copy (:func:`homogeneous_copy`; Lemma 2: ρ̃ = α† there);
    * ``viol14/15/16``: ρ̃ − right-hand side of ineq. (14), (15) (Theorem 2) and (16) (Theorem 3): ≤ 0 where the
      inequality holds; ``slack14/15/16``: (rhs − ρ̃)/ρ̃;
    * ``same_pred_xi``: whether F(ξ) = F(x) (Theorem 3's assumption on the shifted point ξ).
    """
    def compute() -> dict[str, Any]:
        import copy

        model = copy.deepcopy(cm.model).double().eval()
        xd = x.double().to(next(model.parameters()).device)
        geo = geometry.geometry(model, xd, theorem3=True, keep_vectors=False, batch_size=50)
        grads_dot = geo.logits - geo.beta  # ⟨x, ∇Ψ^i⟩ for every class
        bias = geometry.bias_term(model, xd)
        resid = (geo.logits - grads_dot - bias).abs().amax(1) / geo.logits.abs().max()
        geo_h = geometry.geometry(homogeneous_copy(cm.model), xd, keep_vectors=False, batch_size=50)
        out = {"thm1_residual": resid, "lemma2_rel_err": (geo_h.rho_tilde - geo_h.alpha_dagger).abs()
               / geo_h.rho_tilde.abs().clamp_min(1e-12), "same_pred_xi": (geo.pred_xi == geo.pred)}
        for k, rhs in (("14", geo.rhs14), ("15", geo.rhs15), ("16", geo.rhs16)):
            out[f"viol{k}"] = geo.rho_tilde - rhs
            out[f"slack{k}"] = (rhs - geo.rho_tilde) / geo.rho_tilde.clamp_min(1e-12)
        return {k: v.detach().cpu().numpy() for k, v in out.items()}

    return zoo.cached_arrays(f"etmann-theorems-{name or 'model'}", _theorem_key(cm.entry.meta["key"], x), compute)


def member(name: str, profile: str, index: int, *, device: str | None = None,
           progress: bool = False) -> CohortModel:
    """Model ``index`` of cohort ``name`` (trained now if it is not in the zoo)."""
    specs, lams = _specs(name, profile)
    return CohortModel(lams[index], specs[index].regime_kwargs["lam"],
                       zoo.get(specs[index], device=device, progress=progress))


#: what :func:`prepare` can compute per model: function and cache-key builder
_JOBS = {
    "measure": ("etmann-{name}", lambda spec, x, profile: _measure_key(spec.key, x, profile, BOUNDS)),
    "cw_check": ("etmann-cwcheck-{name}", lambda spec, x, profile: _cw_check_key(spec.key, x, profile)),
    "theorems": ("etmann-theorems-{name}", lambda spec, x, profile: _theorem_key(spec.key, x)),
}


def _job(kind: str, name: str, profile: str, index: int) -> str:
    """One worker job of :func:`prepare` (module level so that spawned workers can import it)."""
    cm = member(name, profile, index)
    _, x, _ = eval_data(name, profile)
    if kind == "measure":
        measure(cm, x, profile=profile, name=name)
    elif kind == "cw_check":
        cw_check(cm, x, profile=profile, name=name)
    elif kind == "theorems":
        theorem_checks(cm, x, name=name)
    else:
        raise ValueError(f"unknown job kind {kind!r}: one of {', '.join(_JOBS)}")
    return f"{kind} {name}[{index}]"


def prepare(profile: str, kind: str = "measure", *, names: tuple[str, ...] = ("mnist", "complex"),
            indices: dict[str, list[int]] | None = None, progress: bool = True) -> None:
    """Train (if needed) and evaluate the chapter's models in parallel worker processes (:mod:`rilib.parallel`).

    ``kind`` is ``"measure"`` (:func:`measure`), ``"cw_check"`` (:func:`cw_check`) or ``"theorems"``
    (:func:`theorem_checks`); ``indices`` limits the models per cohort. Only jobs whose result is not cached yet
    are run; the notebooks then read every result from the cache. Nothing is returned.
    """
    from . import parallel

    if kind not in _JOBS:
        raise ValueError(f"unknown job kind {kind!r}: one of {', '.join(_JOBS)}")
    fname, keyfn = _JOBS[kind]
    jobs = []
    for name in names:
        specs, _ = _specs(name, profile)
        _, x, _ = eval_data(name, profile)
        for i in (indices or {}).get(name, range(len(specs))):
            if not zoo.cached_path(fname.format(name=name), keyfn(specs[i], x, profile)).exists():
                jobs.append((kind, name, profile, i))
    if jobs:
        parallel.map_jobs(_job, jobs, desc=f"etmann {kind} ({profile})", progress=progress)


def measured_cohort(name: str, profile: str) -> tuple[list[CohortModel], list[dict[str, Any]]]:
    """Every model of cohort ``name`` with its (cached) measurements on the cohort's evaluation points."""
    prepare(profile, "measure", names=(name,))
    models = cohort(name, profile)
    _, x, _ = eval_data(name, profile)
    return models, [measure(cm, x, profile=profile, name=name) for cm in models]


def shown_index(table) -> int:
    """The model a one-model figure shows (Figs 4, 5): the median-λ model among the non-degenerate ones (the
    paper does not say which model it shows)."""
    ok = [i for i, d in enumerate(table.degenerate) if not d]
    return ok[len(ok) // 2]


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


#: a model whose test accuracy is more than this below the cohort's best counts as degenerate
DEGENERATE_ACC_DROP = 0.05


def _med(a: np.ndarray) -> float:
    return float(np.median(a))  # +inf entries (failed attacks) count, as in the original code


def summarize(models: list[CohortModel], measurements: list[dict[str, Any]]):
    """One row per model: λ, accuracy, medians of α, α†, every robustness notion, the failure shares and the
    shares of Figures 6–9 (ratios of medians, as the paper's 'portion of the right-hand side')."""
    import pandas as pd

    rows = []
    best = max(cm.entry.test_acc for cm in models)
    for cm, m in zip(models, measurements):
        row = {"lam_paper": cm.lam_paper, "lam_per_example": cm.lam, "test_acc": cm.entry.test_acc,
               "M_alpha": _med(m["alpha"]), "M_alpha_dagger": _med(m["alpha_dagger"]), "M_rho_tilde":
               _med(m["rho_tilde"])}
        for k in ("gradient", "bim", "cw"):
            d = m[f"dist_{k}"]
            row[f"M_{k}"] = _med(d)
            row[f"fail_{k}"] = float(np.mean(~np.isfinite(d)))
        row["share_alpha_dagger_18"] = _med(m["alpha_dagger"]) / _med(m["rhs14"])
        row["share_alpha_19"] = _med(m["alpha"]) / _med(m["rhs15"])
        row["share_xi_20"] = _med(m["xi_alignment"]) / _med(m["rhs16"])
        row["ratio_linear_9"] = _med(np.abs(m["linear_dagger"])) / _med(np.abs(m["psi_dagger"]))
        # Etmann et al. chose their λ range "before the models start to degenerate"; our short training reaches
        # that point inside the grid, so such models are flagged (and left out of the curves' claims, shown grey).
        row["degenerate"] = bool(cm.entry.test_acc < best - DEGENERATE_ACC_DROP)
        rows.append(row)
    return pd.DataFrame(rows)
