"""Affine classifiers and their exact distance to the decision boundary (Etmann et al. 2019, Sec 2.1, Lemma 1).

* :class:`AffineBinary` — the binary linear / affine classifier of Sec 2.1 and the poster's "simple toy example",
  written as a two-logit network (Ψ, −Ψ) so the multi-class machinery (geometry kernel, attacks) applies unchanged.
* :func:`affine_distance` — the exact L2 robustness ρ(x) of any affine multi-class classifier Ψ(x) = Wx + b
  (Definition 1), from the half-space argument, independently of the geometry kernel.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["AffineBinary", "affine_distance"]


class AffineBinary(nn.Module):
    """Binary classifier F(x) = sgn(Ψ(x)), Ψ(x) = ⟨x, z⟩ + b, as logits (Ψ, −Ψ): class 0 iff Ψ(x) > 0.

    With ``b = 0`` it is linear (positively homogeneous), the case where robustness and alignment coincide (eq. 2).
    ``weight``/``bias`` give the equivalent two-row affine map for :func:`affine_distance`.
    """

    def __init__(self, z: Tensor, b: float = 0.0):
        super().__init__()
        self.z = nn.Parameter(z.detach().clone().flatten(), requires_grad=False)
        self.bias = nn.Parameter(torch.tensor(float(b), dtype=z.dtype), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        psi = x.flatten(1) @ self.z + self.bias
        return torch.stack([psi, -psi], dim=1)

    @property
    def weight(self) -> Tensor:
        return torch.stack([self.z, -self.z])


def affine_distance(weight: Tensor, bias: Tensor | float | None, x: Tensor) -> Tensor:
    """Exact L2 distance of each ``x`` to the decision boundary of the affine classifier Ψ(x) = W x + b.

    ``x + δ`` is classified differently iff Ψ^j(x + δ) ≥ Ψ^{i*}(x + δ) for some j ≠ i*; each such set is a half
    space, and the nearest point of a half space is the projection onto its hyperplane. So
    ρ(x) = min_j max(0, Ψ^{i*}(x) − Ψ^j(x)) / ‖W_{i*} − W_j‖ — the setting of Lemma 1, where ρ = ρ̃ (eq. 8). For the
    binary :class:`AffineBinary` (rows z, −z; biases b, −b) this is |⟨x, z⟩ + b| / ‖z‖ (eq. 2 and Sec 2.1).
    """
    x = x.flatten(1)
    b = torch.zeros(weight.shape[0], dtype=x.dtype, device=x.device) if bias is None else \
        torch.as_tensor(bias, dtype=x.dtype, device=x.device)
    if b.dim() == 0:  # AffineBinary's scalar b: logits (Ψ, −Ψ)
        b = torch.stack([b, -b])
    logits = x @ weight.T + b
    i = logits.argmax(1)
    diff_w = weight[i][:, None, :] - weight[None, :, :]  # (B, C, d): W_{i*} − W_j
    gap = logits.gather(1, i[:, None]) - logits  # Ψ^{i*} − Ψ^j ≥ 0
    dist = gap.clamp_min(0) / diff_w.norm(dim=2).clamp_min(1e-300)
    dist = dist.masked_fill(torch.nn.functional.one_hot(i, weight.shape[0]).bool(), float("inf"))
    return dist.amin(1)
