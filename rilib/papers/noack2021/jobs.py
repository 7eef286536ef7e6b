"""Noack et al. (2021): per-model evaluations, each cached under the model's key and its settings.

``robustness``     clean and L2 PGD accuracy on the first ``n_eval`` test images (Tables 1, 2): PGD with a random
                   start (per example, seeded), ``attack_steps`` steps of ``attack_step``, Foolbox's L2 PGD, on the
                   correctly classified points (a misclassified one is not robust);
``masking``        the gradient-masking check: PGD accuracy over the ``mask_eps`` grid on the first ``mask_points``
                   test images (each ε its own attack), and Foolbox's FMN minimal L2 distances on the first
                   ``fmn_points`` (with PGD's accuracy at ε on those same points);
``gradient_norms`` Table 3: ‖∇ₓ z_c(x)‖₂ of the correct-class logit and the mean of the nine other logits'
                   gradient norms, per training image (the first ``n_grad``), model in eval mode (dropout off);
``adversarial_direction``  Sec 4.4 eqs. (8)–(9): ‖f(x+δ) − f(x)‖ / ‖f(x+η) − f(x)‖ (softmax outputs) for the FMN
                   minimal perturbation δ and Gaussian η rescaled to ‖δ‖.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ... import attacks, cache, gradients, profiles, zoo

__all__ = ["robustness", "masking", "gradient_norms", "adversarial_direction", "eval_points"]


def eval_points(spec: zoo.ModelSpec, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    ds = zoo.load_data(spec)
    n = len(ds.x_test) if n is None else min(int(n), len(ds.x_test))
    return ds.x_test[:n], ds.y_test[:n]


def _clean(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per point: correctly classified (eval mode, no grad)."""
    dev = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([model(b.to(dev)).argmax(1).cpu() for b in x.split(500)]) == y


def _pgd(model, x, y, eps: float, profile: str, device) -> np.ndarray:
    """Per point: correctly classified and still so after the profile's PGD at ``eps`` (robust accuracy's
    per-point indicator). Points already misclassified are not attacked: they count as not robust whatever PGD
    would do to them, and every other point's result is the same without them (its random start is drawn from
    its own bytes)."""
    P = profiles.get(profile).noack
    ok = _clean(model, x, y)
    out = np.zeros(len(x), dtype=bool)
    if bool(ok.any()):
        res = attacks.attack(model, x[ok], y[ok], method="pgd", bounds=(0.0, 1.0), epsilons=float(eps),
                             device=device, steps=P.attack_steps, abs_stepsize=P.attack_step, random_start=True,
                             seed=0, batch_size=P.attack_batch)
        out[ok.numpy()] = (~res.success.cpu()).numpy()
    return out


def _model(spec: zoo.ModelSpec, device):
    return zoo.get(spec, device=device, progress=False).model.eval()


def _robustness_where(spec: zoo.ModelSpec, eps: float, profile: str):
    P = profiles.get(profile).noack
    x, y = eval_points(spec, P.n_eval)
    key = cache.key("noack-robustness", spec={"eps": float(eps), "steps": P.attack_steps, "step": P.attack_step},
                    code=[f"{__name__}:robustness"], inputs=[x, y], model=spec.key)
    return f"noack-robustness-{spec.dataset}-{spec.regime}", key, x, y


def robustness(spec: zoo.ModelSpec, eps: float, profile: str, *, device: str | None = None) -> dict[str, Any]:
    """``{"clean": bool per point, "adv": bool per point}`` (cached)."""
    name, key, x, y = _robustness_where(spec, eps, profile)

    def compute() -> dict[str, np.ndarray]:
        model = _model(spec, device)
        return {"clean": _clean(model, x, y).numpy(), "adv": _pgd(model, x, y, eps, profile, device)}

    return zoo.cached_arrays(name, key, compute)


def _masking_where(spec: zoo.ModelSpec, eps: float, profile: str):
    P = profiles.get(profile).noack
    x, y = eval_points(spec, P.mask_points)
    xf, yf = eval_points(spec, P.fmn_points)
    key = cache.key("noack-masking", spec={"grid": list(P.mask_eps), "eps": float(eps), "steps": P.attack_steps,
                                           "step": P.attack_step, "fmn_steps": P.fmn_steps},
                    code=[f"{__name__}:masking"], inputs=[x, y, xf, yf], model=spec.key)
    return f"noack-masking-{spec.dataset}-{spec.regime}", key, (x, y, xf, yf)


def masking(spec: zoo.ModelSpec, eps: float, profile: str, *, device: str | None = None) -> dict[str, Any]:
    """``{"eps_grid", "pgd_acc" (one accuracy per grid ε), "fmn_dist" (per FMN point; 0 where misclassified),
    "pgd_at_eps_fmn_points" (bool per FMN point), "fmn_delta" (the FMN perturbations)}`` (cached)."""
    P = profiles.get(profile).noack
    name, key, (x, y, xf, yf) = _masking_where(spec, eps, profile)

    def compute() -> dict[str, np.ndarray]:
        model = _model(spec, device)
        # PGD at the evaluation's ε on the first points is the robustness evaluation's own run on them (a point's
        # result does not depend on the others): read it instead of attacking again
        at_eps = robustness(spec, eps, profile, device=device)["adv"]
        acc = [float(at_eps[: len(x)].mean()) if float(e) == float(eps) and len(at_eps) >= len(x)
               else float(_pgd(model, x, y, e, profile, device).mean()) for e in P.mask_eps]
        # FMN on the correctly classified points; a misclassified one needs no perturbation (distance 0)
        ok = _clean(model, xf, yf)
        dist = np.zeros(len(xf))
        delta = np.zeros(tuple(xf.shape), dtype=np.float32)
        if bool(ok.any()):
            fmn = attacks.attack(model, xf[ok], yf[ok], method="fmn", bounds=(0.0, 1.0), epsilons=None,
                                 device=device, steps=P.fmn_steps)
            dist[ok.numpy()] = np.where(fmn.success.cpu().numpy(), fmn.l2.cpu().numpy(), np.inf)
            delta[ok.numpy()] = (fmn.x_adv.cpu() - xf[ok]).numpy()
        pgd_f = at_eps[: len(xf)] if len(at_eps) >= len(xf) else _pgd(model, xf, yf, eps, profile, device)
        return {"eps_grid": np.asarray(P.mask_eps, dtype=float), "pgd_acc": np.asarray(acc),
                "fmn_dist": dist, "pgd_at_eps_fmn_points": pgd_f, "fmn_delta": delta}

    return zoo.cached_arrays(name, key, compute)


def _gradnorms_where(spec: zoo.ModelSpec, profile: str):
    P = profiles.get(profile).noack
    ds = zoo.load_data(spec)
    n = len(ds.x_train) if P.n_grad is None else min(P.n_grad, len(ds.x_train))
    x, y = ds.x_train[:n], ds.y_train[:n]
    key = cache.key("noack-gradnorms", spec={}, code=[f"{__name__}:gradient_norms"], inputs=[x, y], model=spec.key)
    return f"noack-gradnorms-{spec.dataset}-{spec.regime}", key, x, y


def gradient_norms(spec: zoo.ModelSpec, profile: str, *, device: str | None = None) -> dict[str, Any]:
    """``{"correct": ‖∇z_y‖₂, "others": mean_{j≠y} ‖∇z_j‖₂}`` per training image (cached)."""
    name, key, x, y = _gradnorms_where(spec, profile)

    def compute() -> dict[str, np.ndarray]:
        model = _model(spec, device)
        dev = next(model.parameters()).device
        norms = torch.cat([gradients.input_grad(model, xb.to(dev), "all").flatten(2).norm(dim=2).cpu()
                           for xb in x.split(250)])  # (N, C)
        correct = norms.gather(1, y[:, None]).squeeze(1)
        others = (norms.sum(1) - correct) / (norms.shape[1] - 1)
        return {"correct": correct.numpy(), "others": others.numpy()}

    return zoo.cached_arrays(name, key, compute)


def adversarial_direction(spec: zoo.ModelSpec, eps: float, profile: str, *, device: str | None = None,
                          seed: int = 0) -> dict[str, Any]:
    """Per FMN point whose attack succeeded with a nonzero perturbation: ``ratio`` = ‖softmax(x+δ) − softmax(x)‖₂ /
    ‖softmax(x+η) − softmax(x)‖₂, η Gaussian rescaled to ‖δ‖₂ (x+η not clipped; Noack et al. eqs. (8)–(9))."""
    P = profiles.get(profile).noack
    xf, yf = eval_points(spec, P.fmn_points)
    m = masking(spec, eps, profile, device=device)
    delta = torch.from_numpy(m["fmn_delta"])
    norm = delta.flatten(1).norm(dim=1)
    ok = torch.from_numpy(np.isfinite(m["fmn_dist"])) & (norm > 0)
    g = torch.Generator().manual_seed(seed)
    eta = torch.randn(delta.shape, generator=g)
    eta = eta * (norm / eta.flatten(1).norm(dim=1)).view(-1, *[1] * (delta.dim() - 1))
    model = _model(spec, device)
    dev = next(model.parameters()).device
    with torch.no_grad():
        f = lambda v: torch.softmax(model(v.to(dev)), 1).cpu()  # noqa: E731
        p0, pd, pn = f(xf), f(xf + delta), f(xf + eta)
    ratio = (pd - p0).norm(dim=1) / (pn - p0).norm(dim=1).clamp_min(1e-12)
    return {"ratio": ratio[ok].numpy(), "delta_norm": norm[ok].numpy()}


#: job kind -> (function, where-function): :func:`is_done` and :func:`run` use them
_KINDS = {"robustness": (robustness, _robustness_where), "masking": (masking, _masking_where),
          "gradient_norms": (gradient_norms, _gradnorms_where)}


def is_done(kind: str, *args) -> bool:
    """Whether the evaluation ``kind`` of ``args`` (the job function's positional arguments) is cached."""
    name, key = _KINDS[kind][1](*args)[:2]
    return zoo.cached_path(name, key).exists()


def run(kind: str, *args) -> None:
    """Run (and cache) one evaluation; a worker-process job of :func:`rilib.papers.noack2021.build.chapter`."""
    _KINDS[kind][0](*args)
