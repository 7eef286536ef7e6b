"""Kim et al. (2019), Figs 1 and 2: attack every classifier of a dataset and measure how far its adversarial
examples lie from the VAE-GAN's image manifold.

Per model (:func:`manifold_job`, cached with :func:`rilib.zoo.cached_arrays`, one worker process per model with
:func:`prepare`): the first ``n_attacked`` test images are attacked with cross-entropy PGD, L2, ε = 6 in [0, 1]
(the paper's ε = 12 in [−1, 1]), no random start (Sec 2.1). Per image it records

* ``success``: the attacked model's prediction on x_adv differs from the label (the original judged success by the
  *standard* model's prediction, a bug; ``success_by_standard`` records that judgement for comparison);
* ``d_adv`` and ``d_clean``: d_π = ‖x − Dec(Enc(x))‖₂ of x_adv and of the clean image
  (:func:`rilib.papers.kim2019.manifold.manifold_distance`);
* ``judge_agrees``: whether an independently trained standard net (another seed) assigns x_adv the class the
  attacked model assigns it — a measurable proxy of "the adversarial example looks like the target class" (Fig 2);
* ``norm``: ‖x_adv − x‖₂ (PGD at this ε runs to the sphere unless the image box stops it).

The first ``n_gallery`` adversarial images are kept for the Fig 2 gallery.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ... import attacks, cache, parallel, profiles, zoo
from . import checks as _checks
from . import cohort as _cohort
from . import manifold as _manifold

__all__ = ["manifold_job", "prepare", "measured", "N_GALLERY", "gradient_maps"]

#: adversarial images kept per model for the Fig 2 gallery
N_GALLERY = 8


def _eval_points(dataset: str, profile: str) -> tuple[torch.Tensor, torch.Tensor]:
    ds = zoo.load_data(_cohort.spec(_cohort.KimModel(dataset), profile))
    n = profiles.get(profile).kim_manifold.n_attacked
    n = len(ds.x_test) if n is None else min(n, len(ds.x_test))
    return ds.x_test[:n], ds.y_test[:n]


def _key(m: _cohort.KimModel, profile: str, x: torch.Tensor) -> cache.Key:
    A = profiles.get(profile).kim_manifold
    return cache.key("kim-manifold", spec={"attack": A.to_dict(), "n_gallery": N_GALLERY},
                     code=[f"{__name__}:manifold_job"], inputs=[x],
                     model=_cohort.spec(m, profile).key, standard=_cohort.spec(_cohort.KimModel(m.dataset), profile).key,
                     judge=_cohort.spec(_cohort.KimModel(m.dataset), profile, seed=1).key,
                     vaegan=_manifold.vaegan_spec(m.dataset, profile).key)


def manifold_job(m: _cohort.KimModel, profile: str, device: str | None = None) -> dict[str, Any]:
    """The per-image arrays of model ``m`` listed in the module docstring (cached)."""
    x, y = _eval_points(m.dataset, profile)

    def compute() -> dict[str, Any]:
        A = profiles.get(profile).kim_manifold
        model = zoo.get(_cohort.spec(m, profile), device=device, progress=False).model
        standard = zoo.get(_cohort.spec(_cohort.KimModel(m.dataset), profile), device=device, progress=False).model
        judge = zoo.get(_cohort.spec(_cohort.KimModel(m.dataset), profile, seed=1), device=device,
                        progress=False).model
        vae = zoo.get(_manifold.vaegan_spec(m.dataset, profile), device=device, progress=False).model
        res = attacks.attack(model, x, y, method="pgd-train", bounds=(0.0, 1.0), epsilons=A.attack_eps,
                             device=device, norm="l2", steps=A.attack_steps, step_size=A.attack_step, loss="ce",
                             random_start=False)
        dev = next(model.parameters()).device
        with torch.no_grad():
            xa = res.x_adv.to(dev)
            pred = torch.cat([model(b).argmax(1) for b in xa.split(500)]).cpu()
            pred_std = torch.cat([standard(b).argmax(1) for b in xa.split(500)]).cpu()
            pred_judge = torch.cat([judge(b).argmax(1) for b in xa.split(500)]).cpu()
        return {"success": (pred != y).numpy(), "success_by_standard": (pred_std != y).numpy(),
                "judge_agrees": (pred_judge == pred).numpy(), "pred_adv": pred.numpy(),
                "d_adv": _manifold.manifold_distance(vae, res.x_adv).cpu().numpy(),
                "d_clean": _manifold.manifold_distance(vae, x).cpu().numpy(),
                "norm": res.l2.cpu().numpy(), "x_adv_gallery": res.x_adv[:N_GALLERY].cpu().numpy()}

    return zoo.cached_arrays(f"kim-manifold-{m.dataset}-{m.name}", _key(m, profile, x), compute)


def prepare(dataset: str, profile: str, *, device: str | None = None) -> None:
    """Train the missing models of ``dataset`` (classifiers, the judge, the VAE-GAN; on MNIST also the training
    check's two variants) and run the missing attack jobs,
    spread over the worker processes (:func:`rilib.parallel.map_jobs`)."""
    models = _cohort.cohort(dataset, profile)
    # the VAE-GAN, the longest job, first: queued last it trained alone while the other workers sat idle
    specs = [_manifold.vaegan_spec(dataset, profile), _cohort.spec(_cohort.KimModel(dataset), profile, seed=1)]
    specs += [_cohort.spec(m, profile) for m in models]
    if dataset == "mnist":
        # the models page's training check (:func:`rilib.papers.kim2019.checks.check_specs`) trains here too, its
        # PGD-40 net (the chapter's longest training) first: left to that page, it trained alone for 4.5 min while
        # the other worker sat idle
        check = _checks.check_specs(profile)
        specs = [check["long"], *specs, check["paper_net"]]
    zoo.prefetch(specs, device=device)
    x, _ = _eval_points(dataset, profile)
    todo = [("manifold", m, profile, device) for m in models
            if not zoo.cached_path(f"kim-manifold-{dataset}-{m.name}", _key(m, profile, x)).exists()]
    if dataset == "mnist":  # and the check's DDN runs, the PGD-40 net's (the longest) first
        ddn = [("ddn", s, profile, device) for s in (check["long"], check["profile"], check["paper_net"])
               if not _checks.ddn_done(s, profile)]
        todo = ddn[:1] + todo + ddn[1:]
    parallel.map_jobs(_job, todo, desc=f"attack + d_pi ({dataset})")


def _job(kind: str, *args) -> Any:
    return manifold_job(*args) if kind == "manifold" else _checks.ddn_distances(*args)


def measured(dataset: str, profile: str, *, device: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """``{model name: arrays}`` for every model of the dataset's cohort (computing what is missing)."""
    prepare(dataset, profile, device=device)
    return {m.name: manifold_job(m, profile, device) for m in _cohort.cohort(dataset, profile)}


def gradient_maps(models: list[_cohort.KimModel], profile: str, *, device: str | None = None) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Fig 6: the first ``kim_fig6.n_images`` test images and, per model, the signed loss gradient at the predicted
    label summed over channels (B, H, W) (:func:`rilib.attribution.attribute`, ``loss_gradient``, ``abs=False``)."""
    from ... import attribution

    n = profiles.get(profile).kim_fig6.n_images
    x = zoo.load_data(_cohort.spec(models[0], profile)).x_test[:n]
    zoo.prefetch([_cohort.spec(m, profile) for m in models], device=device)
    out = {}
    for m in models:
        net = zoo.get(_cohort.spec(m, profile), device=device, progress=False).model.eval()
        g = attribution.attribute(net, x, method="loss_gradient", abs=False, channel_sum=True)
        out[m.name] = g.reshape(len(x), *x.shape[-2:]).cpu().numpy()
    return x, out
