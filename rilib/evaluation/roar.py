"""ROAR and KAR: remove (keep) the pixels an attribution ranks highest, retrain, measure test accuracy.

ROAR ("RemOve And Retrain") and KAR ("Keep And Retrain") are the benchmarks of Hooker et al. (2019, "A Benchmark
for Interpretability Methods in Deep Neural Networks"); Kim et al. (2019, "Bridging Adversarial Robustness and
Gradient Interpretability", Sec 3.2 and appendix B.3, Figs 4/5) score an attribution method g by them:

* **ranking** — g ranks the pixels of every training *and* test image (a map per image, summed over channels);
  ties are broken by adding uniform noise in [0, 10⁻⁸) (:func:`pixel_ranks`, in float64 so that the noise is not
  lost to rounding);
* **occlusion** — at a fraction f of the n pixels of an image, k = round(f·n) pixels are *removed* (rounded half
  up, :func:`n_removed`), i.e. replaced by the per-channel mean of the training set (:func:`occlude`):
  ROAR removes the k highest-ranked pixels, KAR the k lowest-ranked ones (it keeps the n − k most important).
  The x-axis of both curves is the fraction *removed*, as in Kim et al.'s text ("for KAR, we replaced the pixels
  estimated to be least important") and Hooker et al.'s figures; so the ROAR mask at f is the complement of the
  KAR mask at 1 − f (exactly when round(f·n) + round((1 − f)·n) = n, i.e. unless f·n is a half-integer);
* **retraining** — a fresh network is trained on the occluded training set for every (fraction, ROAR/KAR, repeat)
  and its accuracy on the occluded test set is the curve's value (Kim et al.: fractions {0.1, 0.3, 0.5, 0.7, 0.9},
  3 repeats averaged); :func:`rilib.retrain.evaluate_roar_kar` runs them in worker processes and caches each one;
* **curves** — the points at f = 0 and f = 1 are fixed, not retrained: the standard model's accuracy and chance
  (:func:`full_curve`);
* **scores** — μ_ROAR = AOC(ROAR curve of g) − AOC(ROAR curve of g_Rand) and μ_KAR = AUC(KAR curve of g) −
  AUC(KAR curve of g_Rand), trapezoids over [0, .1, .3, .5, .7, .9, 1] (:func:`roar_kar_scores`). Both are
  "higher is better": a good attribution makes ROAR accuracy fall fast and KAR accuracy stay high. AOC is the area
  between the curve and accuracy 1 (1 − AUC over [0, 1]); where that upper line lies, and the two fixed
  endpoints, cancel in the difference with the random baseline.

Retraining uses the one training loop (:func:`rilib.train.fit` with :class:`rilib.train.CrossEntropy`) and the
architectures of :func:`rilib.models.build`; each retraining is cached with :func:`rilib.zoo.cached_arrays` under a
:func:`rilib.cache.key` holding all settings, the SHA-256 of the data and of the attribution maps, and the logic of
the code it runs (:func:`rilib.retrain.retrain_code`). The retrainings are independent jobs for
:func:`rilib.parallel.map_jobs`; the data and the pixel ranks are written once per call to a temporary folder in the
cache (``.tmp-<pid>…``, removed at the end, swept if the run is killed) and every worker reads each file once, so no
job carries tensors.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor


__all__ = ["MODES", "FRACTIONS", "n_removed", "pixel_ranks", "mask_from_ranks", "rank_mask",
           "apply_mask", "occlude", "channel_mean", "full_curve", "curve_area", "roar_kar_scores"]

#: ROAR removes the most important pixels, KAR the least important ones
MODES = ("roar", "kar")
#: the retrained fractions of Kim et al. (2019) Sec 3.2
FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be 'roar' or 'kar', not {mode!r}")
    return mode


def n_removed(fraction: float, n_pixels: int) -> int:
    """How many of ``n_pixels`` pixels are removed at ``fraction``: round(fraction · n_pixels), halves rounded up.
    The same count for ROAR and KAR."""
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    return int(math.floor(float(fraction) * n_pixels + 0.5))


def pixel_ranks(scores: Tensor, *, generator: torch.Generator | None = None, noise: float = 1e-8) -> Tensor:
    """Rank of every pixel of every image by its score: 0 for the highest score of its image.

    ``scores`` is (B, ...) — one attribution map per image (e.g. (B, 1, H, W)); the result is int64 of the same
    shape. Ties (and scores closer than ``noise``) are broken by adding uniform noise in [0, ``noise``) drawn on
    the CPU from ``generator`` (the global RNG when None), in float64 (Kim et al. 2019, appendix B.3: 1e-8).
    Non-finite scores raise ``ValueError``.
    """
    b = scores.shape[0]
    flat = scores.detach().reshape(b, -1).to(torch.float64)
    if not bool(torch.isfinite(flat).all()):
        raise ValueError("pixel_ranks: the attribution scores contain NaN or infinite values")
    if noise:
        flat = flat + float(noise) * torch.rand(flat.shape, generator=generator, dtype=torch.float64).to(flat.device)
    n = flat.shape[1]
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(n, device=order.device).expand(b, n))
    return ranks.reshape(scores.shape)


def mask_from_ranks(ranks: Tensor, fraction: float, *, mode: str) -> Tensor:
    """The pixels to remove (True) at ``fraction`` given per-image ranks (:func:`pixel_ranks`): ROAR the
    k = :func:`n_removed` ranked first, KAR the k ranked last."""
    _check_mode(mode)
    n = ranks[0].numel() if ranks.shape[0] else int(np.prod(ranks.shape[1:]))
    k = n_removed(fraction, n)
    return ranks < k if mode == "roar" else ranks >= n - k


def rank_mask(scores: Tensor, fraction: float, *, mode: str, generator: torch.Generator | None = None,
              noise: float = 1e-8) -> Tensor:
    """Boolean mask (shape of ``scores``) of the pixels removed at ``fraction``: exactly round(fraction · n) per
    image (halves up), the highest-scored for ``mode="roar"``, the lowest-scored for ``mode="kar"``; ties broken
    by noise from ``generator`` (:func:`pixel_ranks`). With the same generator state, the ROAR mask at f and the
    KAR mask at f' are complements whenever round(f·n) + round(f'·n) = n (e.g. f' = 1 − f)."""
    return mask_from_ranks(pixel_ranks(scores, generator=generator, noise=noise), fraction, mode=mode)


def _as_image_mask(mask: Tensor, x: Tensor) -> Tensor:
    """``mask`` (shape of x, or with one channel, or without the channel axis) broadcastable against ``x``."""
    if mask.shape == x.shape or (x.dim() >= 3 and mask.dim() == x.dim() and mask.shape[1] == 1
                                 and mask.shape[2:] == x.shape[2:] and mask.shape[0] == x.shape[0]):
        return mask
    if x.dim() >= 3 and mask.dim() == x.dim() - 1 and mask.shape[0] == x.shape[0] and mask.shape[1:] == x.shape[2:]:
        return mask.unsqueeze(1)
    raise ValueError(f"an attribution / mask of shape {tuple(mask.shape)} does not fit images of shape "
                     f"{tuple(x.shape)}: use (B, C, H, W), (B, 1, H, W) or (B, H, W)")


def _fill_tensor(fill: float | Sequence[float] | Tensor, x: Tensor) -> Tensor:
    f = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    if f.numel() == 1:
        return f.reshape(())
    if x.dim() < 3 or f.numel() != x.shape[1]:
        raise ValueError(f"fill must be a number or one value per channel ({x.shape[1] if x.dim() >= 3 else 'none'}"
                         f" channels), got {f.numel()} values")
    return f.reshape(1, -1, *([1] * (x.dim() - 2)))


def apply_mask(x: Tensor, mask: Tensor, fill: float | Sequence[float] | Tensor) -> Tensor:
    """``x`` with the pixels where ``mask`` is True replaced by ``fill`` (a number or one value per channel) in
    every channel; the other pixels unchanged."""
    return torch.where(_as_image_mask(mask.to(x.device), x), _fill_tensor(fill, x), x)


def occlude(x: Tensor, scores: Tensor, fraction: float, *, mode: str, fill: float | Sequence[float] | Tensor,
            generator: torch.Generator | None = None, noise: float = 1e-8) -> Tensor:
    """``x`` with the pixels of :func:`rank_mask` replaced by ``fill`` (Kim et al.: the per-channel dataset mean,
    :func:`channel_mean`). ``scores`` is (B, 1, H, W), (B, H, W) — one rank per pixel, every channel removed
    together — or the shape of ``x``."""
    return apply_mask(x, rank_mask(scores, fraction, mode=mode, generator=generator, noise=noise), fill)


def channel_mean(x: Tensor) -> list[float]:
    """Per-channel mean of an image set (N, C, ...) (float64 sums); one value for (N, D) data."""
    x = x.detach().to(torch.float64)
    if x.dim() < 3:
        return [float(x.mean())]
    return [float(v) for v in x.transpose(0, 1).reshape(x.shape[1], -1).mean(1)]


# ----------------------------------------------------------------------------------------------------------------
# curves and scores
# ----------------------------------------------------------------------------------------------------------------
def full_curve(accuracies: Sequence[float] | np.ndarray, fractions: Sequence[float] = FRACTIONS, *, start: float,
               end: float) -> tuple[np.ndarray, np.ndarray]:
    """The curve with its fixed endpoints: x = [0, *fractions, 1], y = [start, *accuracies, end] (Kim et al.:
    ``start`` the standard model's accuracy, ``end`` chance). ``accuracies`` of shape (R, F) (repeats) are
    averaged over the repeats first."""
    acc = np.asarray(accuracies, dtype=float)
    if acc.ndim == 2:
        acc = acc.mean(0)
    fr = np.asarray(fractions, dtype=float)
    if acc.shape != fr.shape:
        raise ValueError(f"{acc.shape[0] if acc.ndim else 'no'} accuracies for {fr.shape[0]} fractions")
    if fr.size and (fr.min() <= 0 or fr.max() >= 1):
        raise ValueError("the retrained fractions must lie strictly between the fixed endpoints 0 and 1")
    return np.r_[0.0, fr, 1.0], np.r_[float(start), acc, float(end)]


def curve_area(fractions: Sequence[float] | np.ndarray, accuracies: Sequence[float] | np.ndarray) -> float:
    """Area under the piecewise-linear curve through ``(fractions, accuracies)`` (trapezoids); the fractions must
    increase strictly. A NaN accuracy gives NaN."""
    x, y = np.asarray(fractions, dtype=float), np.asarray(accuracies, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"curve_area needs two 1-D arrays of equal length >= 2, got {x.shape} and {y.shape}")
    if np.any(np.diff(x) <= 0):
        raise ValueError("curve_area: the fractions must increase strictly")
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def roar_kar_scores(curves: Mapping[str, Mapping[str, Any]], random_curve: Mapping[str, Any], *, start: float,
                    end: float = 0.1, fractions: Sequence[float] = FRACTIONS) -> dict[str, dict[str, float]]:
    """μ_ROAR and μ_KAR of every curve against the random baseline (Kim et al. 2019, Sec 3.2).

    ``curves`` maps a name to ``{"roar": accuracies, "kar": accuracies}`` at ``fractions`` (shape (F,), or (R, F)
    for R repeats, averaged); ``random_curve`` is the same for g_Rand (either mode may be missing). Each curve is
    completed with ``start`` at 0 (the standard model's accuracy) and ``end`` at 1 (chance) (:func:`full_curve`).
    Returns ``{name: {"roar": μ_ROAR, "kar": μ_KAR}}`` with

    * μ_ROAR = AOC(g) − AOC(g_Rand) = AUC(g_Rand) − AUC(g) on the ROAR curves (AOC = 1 − AUC over [0, 1]),
    * μ_KAR  = AUC(g) − AUC(g_Rand) on the KAR curves;

    both positive when g beats the random baseline. A curve identical to the random one scores 0; ``start`` and
    ``end`` cancel in the differences.
    """

    def auc(acc) -> float:
        return curve_area(*full_curve(acc, fractions, start=start, end=end))

    out: dict[str, dict[str, float]] = {}
    for name, curve in curves.items():
        scores: dict[str, float] = {}
        for mode in MODES:
            if mode in curve and mode in random_curve:
                a, r = auc(curve[mode]), auc(random_curve[mode])
                scores[mode] = (1.0 - a) - (1.0 - r) if mode == "roar" else a - r
        out[name] = scores
    return out
