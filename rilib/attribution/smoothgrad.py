"""Logit saliency and SmoothGrad (Smilkov et al. 2017), as Noack et al. (2021) use them.

``saliency``      ∇ₓ z_c(x): the signed gradient of the logit of class ``c`` (Simonyan et al. 2014; Captum's
                  ``Saliency`` with ``abs=False``).
``smoothgrad``    (1/n) Σₖ |∇ₓ z_c(x + ηₖ)|, ηₖ ~ N(0, σ² I) — Noack et al. (2021) eq. (4): the absolute value of each
                  noisy gradient is averaged (``abs_each=True``; ``False`` averages the signed gradients, Smilkov et
                  al.'s original), σ is absolute (in pixel units, not a fraction of the input range) and the map is
                  not normalised. Captum's ``NoiseTunnel(Saliency)`` with ``nt_type="smoothgrad"`` computes the
                  same expectation (tested against it); the noise here is drawn per example from a generator seeded
                  by (``seed``, the example's bytes), so an image gets the same map alone as in any batch, which a
                  batch-level draw cannot give. The noisy inputs are not clipped to the pixel range (eq. (4) does
                  not clip; the authors' code clamps to [0, 1]).
"""
from __future__ import annotations

import hashlib

import torch
from torch import Tensor

from ..gradients import input_grad
from .registry import register

__all__ = ["example_noise"]


def example_noise(x: Tensor, n: int, sigma: float, seed: int) -> Tensor:
    """(n, B, ...) Gaussian noise of standard deviation ``sigma``; example i's n draws come from a generator seeded
    by (``seed``, the bytes of ``x[i]``), so they do not depend on the batch it is in."""
    flat = x.detach().cpu().contiguous()
    out = torch.empty((n, *x.shape), dtype=torch.float32)
    for i, row in enumerate(flat):
        h = hashlib.blake2b(row.numpy().tobytes(), digest_size=8, key=str(int(seed)).encode())
        g = torch.Generator().manual_seed(int.from_bytes(h.digest(), "little") & (2**63 - 1))
        out[:, i] = torch.randn((n, *row.shape), generator=g)
    return (out * float(sigma)).to(device=x.device, dtype=x.dtype)


@register("saliency")
def saliency(model, x: Tensor, target) -> Tensor:
    """∇ₓ z_c(x), the signed logit gradient (Simonyan et al. 2014)."""
    return input_grad(model, x, target, objective="logit")


@register("smoothgrad")
def smoothgrad(model, x: Tensor, target, *, n: int = 50, sigma: float = 0.15, abs_each: bool = True,
               seed: int = 0) -> Tensor:
    """(1/n) Σₖ |∇ₓ z_c(x + ηₖ)|, ηₖ ~ N(0, σ²I) (Noack et al. 2021 eq. (4); ``abs_each=False``: Smilkov et al.).

    ``target`` None means the class predicted on the clean input (not on each noisy copy).
    """
    if n < 1:
        raise ValueError(f"smoothgrad needs n >= 1 noisy copies, got {n}")
    if target is None:
        with torch.no_grad():
            target = model(x).argmax(1)
    if not isinstance(target, Tensor):
        target = torch.full((x.shape[0],), int(target), dtype=torch.long)
    target = target.to(x.device)
    noise = example_noise(x, n, sigma, seed)
    total = torch.zeros_like(x)
    for k in range(n):
        g = input_grad(model, x + noise[k], target, objective="logit")
        total += g.abs() if abs_each else g
    return total / n
