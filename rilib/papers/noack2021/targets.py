"""Noack et al. (2021): the target interpretations of interpretation regularisation (Sec 3, eqs. (3)–(4)).

T(x) = threshold_φ(SmoothGrad_c(x)): the SmoothGrad map of the true-class logit of a teacher net (n noisy copies,
absolute noise σ, the mean of the absolute gradients: :func:`rilib.attribution.smoothgrad`), with every pixel
below mean + φ·std of its own map set to 0 (φ = 1). IR-R-Perm permutes each target's values within its map.
Targets are computed once per (teacher, training set, settings) and cached; a model's spec refers to them by key.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ... import attribution, cache, profiles, zoo
from . import cohort as _cohort

__all__ = ["threshold", "permute_within", "smoothgrad_maps", "ir_targets", "extras", "is_done"]


def threshold(maps: Tensor, phi: float = 1.0) -> Tensor:
    """Each map (the first axis indexes maps) with the values below mean + φ·std of that map set to 0
    (population std over all of the map's pixels and channels; Noack et al. Sec 3, φ = 1)."""
    flat = maps.flatten(1)
    cut = flat.mean(1, keepdim=True) + float(phi) * flat.std(1, unbiased=False, keepdim=True)
    return torch.where(flat >= cut, flat, torch.zeros_like(flat)).view_as(maps)


def permute_within(maps: Tensor, seed: int) -> Tensor:
    """Each map's values in a random order (its own permutation of the pixels, from a generator seeded with
    ``seed`` and the map's index): IR-R-Perm's targets keep each map's values and lose their places."""
    flat = maps.flatten(1)
    out = torch.empty_like(flat)
    for i in range(flat.shape[0]):
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + i)
        out[i] = flat[i, torch.randperm(flat.shape[1], generator=g)]
    return out.view_as(maps)


def smoothgrad_maps(model, x: Tensor, y: Tensor, profile: str, *, seed: int = 0) -> Tensor:
    """Unthresholded SmoothGrad maps of the true-class logit, the profile's n and σ (Noack et al. eq. (4))."""
    P = profiles.get(profile).noack
    return attribution.attribute(model.eval(), x, method="smoothgrad", target=y, abs=False, channel_sum=False,
                                 n=P.sg_n, sigma=P.sg_sigma, seed=seed)


def _where(dataset: str, teacher: str, profile: str, teacher_eps: float | None, permute: bool):
    """(cache name, key, teacher spec, dataset) of one set of targets."""
    P = profiles.get(profile).noack
    t_spec = _cohort.spec(_cohort.NoackModel(dataset, teacher, 0, eps=teacher_eps), profile)
    ds = zoo.load_data(t_spec)
    name = f"noack-targets-{dataset}-{teacher}{'-perm' if permute else ''}"
    key = cache.key("noack-targets", spec={"n": P.sg_n, "sigma": P.sg_sigma, "phi": P.phi, "permute": permute,
                                           "noise_seed": 0, "permute_seed": 0},
                    code=[f"{__name__}:ir_targets"], inputs=[ds.x_train, ds.y_train], model=t_spec.key)
    return name, key, t_spec, ds


def ir_targets(dataset: str, teacher: str, profile: str, *, teacher_eps: float | None = None,
               permute: bool = False, device: str | None = None) -> dict[str, Any]:
    """The thresholded SmoothGrad targets of every training image of ``dataset`` from the seed-0 net of regime
    ``teacher`` (``"adv"`` or ``"std"``), permuted within each map if ``permute`` (cached).

    Returns ``{"targets": (N, C, H, W) array, "extras": the spec field naming the cached arrays}``.
    """
    P = profiles.get(profile).noack
    name, key, t_spec, ds = _where(dataset, teacher, profile, teacher_eps, permute)

    def compute() -> dict[str, np.ndarray]:
        if permute:  # the unpermuted targets (cached), permuted
            base = ir_targets(dataset, teacher, profile, teacher_eps=teacher_eps, device=device)["targets"]
            return {"targets": permute_within(torch.from_numpy(base), 0).numpy()}
        net = zoo.get(t_spec, device=device, progress=False).model.eval()
        maps = threshold(smoothgrad_maps(net, ds.x_train, ds.y_train, profile), P.phi)
        return {"targets": maps.cpu().numpy().astype(np.float32)}

    out = zoo.cached_arrays(name, key, compute)
    return {"targets": out["targets"], "extras": _extras(name, key)}


def _extras(name: str, key) -> dict[str, Any]:
    return {"name": name, "digest": key.digest, "arrays": ["targets"]}


def extras(dataset: str, teacher: str, profile: str, teacher_eps: float | None, permute: bool = False
           ) -> dict[str, Any]:
    """The spec field of an IR net naming these targets (what :func:`ir_targets` returns as ``"extras"``), without
    computing or loading them."""
    return _extras(*_where(dataset, teacher, profile, teacher_eps, permute)[:2])


def is_done(dataset: str, teacher: str, profile: str, teacher_eps: float | None, permute: bool = False) -> bool:
    """Whether these targets are cached."""
    return zoo.cached_path(*_where(dataset, teacher, profile, teacher_eps, permute)[:2]).exists()
