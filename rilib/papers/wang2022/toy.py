"""Wang et al. (2022), Figs 1 and 2 — schematics in the paper — as an analogue on a 2-D ReLU classifier.

A piecewise-linear network is affine on each of its linear regions (the cells of one activation pattern), so on a
region R its margin d(u) = z_c(u) − z_o(u) is a·u + b and R is an intersection of half-planes, one per hidden unit:
sᵢ·(gᵢ·u + cᵢ) ≥ 0 with gᵢ, cᵢ the unit's pre-activation (affine on R) and sᵢ its sign at R's points. The part of
the decision boundary inside R is the segment {a·u + b = 0} ∩ R, found exactly by clipping the line's parameter
against every half-plane; the nearest boundary point of x is the nearest point over the segments of all regions
(:func:`nearest_boundary`). The saliency map ∇z_c(x) is the normal of the *extension* of x's own region's boundary
line, which need not be the nearest segment (Sec 3.2, Fig 2c); BSM is ∇z_c at the nearest boundary point (Fig 1a),
IG integrates from a baseline, BIG from the nearest boundary point (Fig 1b).

Regions are enumerated from the activation patterns of a grid of sample points: a region no sample hits is missed
(the tests check the result against a dense brute-force search).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["toy_net", "preactivations", "region_labels", "Segment", "boundary_segments", "nearest_boundary",
           "region_line", "explain", "sm_bsm_cosines", "prop32_check"]


def toy_net(hidden: tuple[int, ...] = (10, 10), *, seed: int = 0, centre: tuple[float, float] = (0.0, 0.0)) -> nn.Sequential:
    """A random 2 → hidden → 2 ReLU classifier (float64, Gaussian weights, seeded) with antisymmetric logits
    z_1 = −z_0, so that ∇z_c is normal to the decision boundary z_0 = 0 (the paper's binary setting), which passes
    through ``centre``."""
    g = torch.Generator().manual_seed(seed)
    sizes = (2, *hidden, 2)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        lin = nn.Linear(a, b).double()
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=g, dtype=torch.float64) / a ** 0.5 * 1.5)
            lin.bias.copy_(torch.randn(b, generator=g, dtype=torch.float64) * 0.5)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers).eval()
    with torch.no_grad():
        last = net[-1]
        last.weight[1] = -last.weight[0]  # z_1 = −z_0: ∇z_c is the boundary normal, as in the paper's binary drawings
        last.bias[1] = -last.bias[0]
        z0 = net(torch.tensor([centre], dtype=torch.float64))[0, 0]
        last.bias[0] -= z0
        last.bias[1] += z0
    return net


def preactivations(net: nn.Sequential, u: Tensor) -> Tensor:
    """(B, H) every hidden unit's pre-activation at the (B, 2) points ``u``, layer after layer."""
    out, h = [], u
    for m in net:
        h = m(h)
        if isinstance(m, nn.Linear) and m is not net[-1]:
            out.append(h)
    return torch.cat(out, 1) if out else u.new_zeros(u.shape[0], 0)


def region_labels(net: nn.Sequential, u: Tensor) -> Tensor:
    """(B,) an integer per activation pattern at the points ``u`` (0, 1, … in order of first appearance)."""
    with torch.no_grad():
        pattern = (preactivations(net, u) > 0).to(torch.int64)
    if pattern.shape[1] == 0:  # no hidden unit: one region
        return torch.zeros(u.shape[0], dtype=torch.int64)
    _, inverse = torch.unique(pattern, dim=0, return_inverse=True)
    first = {}
    return torch.tensor([first.setdefault(int(i), len(first)) for i in inverse])


def _affine_at(f, v: Tensor) -> tuple[Tensor, Tensor]:
    """(J, c) with f(u) = J u + c on the region of the single point ``v`` (f affine there)."""
    J = torch.autograd.functional.jacobian(lambda w: f(w[None])[0], v)
    with torch.no_grad():
        c = f(v[None])[0] - J @ v
    return J, c


@dataclass
class Segment:
    """The decision boundary inside one linear region: the points ``start`` + t·``direction``, t ∈ [lo, hi],
    where the margin a·u + b vanishes (``normal`` = a = ∇d on the region)."""

    start: Tensor
    direction: Tensor
    lo: float
    hi: float
    normal: Tensor
    region: int

    def point(self, t: float) -> Tensor:
        return self.start + t * self.direction


def boundary_segments(net: nn.Sequential, samples: Tensor, c: int = 0, *, tol: float = 1e-12) -> list[Segment]:
    """The decision-boundary segment of every region hit by ``samples`` (B, 2) for class ``c`` against the other."""
    labels = region_labels(net, samples)
    segs = []
    for r in range(int(labels.max()) + 1):
        v = samples[labels == r][0]
        a, b = region_line(net, v, c)
        if float(a.norm()) < tol:
            continue
        start = -b * a / (a @ a)  # the foot of the origin on the line a·u + b = 0
        direction = torch.stack([-a[1], a[0]]) / a.norm()
        alpha = beta = torch.zeros(0, dtype=v.dtype)
        with torch.no_grad():
            pre = preactivations(net, v[None])[0]
        if pre.numel():
            G, cc = _affine_at(lambda w: preactivations(net, w), v)
            s = torch.where(pre >= 0, 1.0, -1.0).to(v.dtype)
            alpha = s * (G @ direction)  # s·(G(start + t·dir) + c) ≥ 0  ⇔  alpha·t ≥ −beta
            beta = s * (G @ start + cc)
        lo, hi = -float("inf"), float("inf")
        for al, be in zip(alpha.tolist(), beta.tolist()):
            if abs(al) < tol:
                if be < -tol:
                    lo, hi = 1.0, 0.0  # the line misses the region
                continue
            t = -be / al
            lo, hi = (max(lo, t), hi) if al > 0 else (lo, min(hi, t))
        if lo <= hi:
            segs.append(Segment(start, direction, lo, hi, a.detach(), r))
    return segs


def nearest_boundary(x: Tensor, segments: list[Segment]) -> tuple[Tensor, float, Segment]:
    """The exact nearest point of the segments to the point ``x`` (2,): (point, distance, its segment)."""
    best = None
    for s in segments:
        t = float((x - s.start) @ s.direction)  # the foot of x on the segment's line, clipped to the segment
        t = min(max(t, s.lo), s.hi)
        p = s.point(t)
        d = float((p - x).norm())
        if best is None or d < best[1]:
            best = (p, d, s)
    if best is None:
        raise ValueError("no decision boundary in the sampled regions: sample a larger domain")
    return best


def region_line(net: nn.Sequential, v: Tensor, c: int = 0) -> tuple[Tensor, float]:
    """(a, b): the margin z_c − z_o on the region of the point ``v`` is a·u + b; a·u + b = 0 is the linear extension of
    that region's boundary, to which the saliency map at ``v`` is normal."""
    A, b = _affine_at(lambda w: (net(w)[:, c] - net(w)[:, 1 - c])[:, None], v)
    return A[0].detach(), float(b[0])


def explain(net: nn.Sequential, x: Tensor, segments: list[Segment], *, baseline: Tensor, ig_steps: int = 50) -> dict:
    """Figs 1/2 at the point ``x`` (2,), for its predicted class c: ``c``, the nearest boundary point ``x_boundary``
    and its ``distance``, ``sm`` = ∇z_c(x), ``bsm`` = ∇z_c(x′), ``ig`` (from ``baseline``), ``big`` (from x′),
    ``own_line`` (a, b) of x's region (:func:`region_line`), ``segment`` (the nearest one; the boundary is the same
    set for either class, only the sign of its normal depends on c)."""
    from ... import attribution

    with torch.no_grad():
        c = int(net(x[None]).argmax(1))
    xb, dist, seg = nearest_boundary(x, segments)
    kw = dict(target=torch.tensor([c]), abs=False, channel_sum=False)
    X = x[None]
    return {"c": c, "x_boundary": xb, "distance": dist, "segment": seg, "own_line": region_line(net, x, c),
            "sm": attribution.attribute(net, X, method="saliency", **kw)[0],
            "bsm": attribution.attribute(net, X, method="bsm", boundary=xb[None], **kw)[0],
            "ig": attribution.attribute(net, X, method="integrated_gradients", baseline=baseline[None],
                                        n_steps=ig_steps, **kw)[0],
            "big": attribution.attribute(net, X, method="big", boundary=xb[None], n_steps=ig_steps, **kw)[0]}


def sm_bsm_cosines(net: nn.Sequential, xs: Tensor, segments: list[Segment]) -> Tensor:
    """(B,) cos(SM, BSM) at the points ``xs`` (B, 2), each for its predicted class: 1 where the saliency map is
    normal to the nearest boundary segment, below 1 where it is normal to another segment's extension."""
    from ... import attribution

    with torch.no_grad():
        c = net(xs).argmax(1)
    xb = torch.stack([nearest_boundary(x, segments)[0] for x in xs])
    kw = dict(target=c, abs=False, channel_sum=False)
    sm = attribution.attribute(net, xs, method="saliency", **kw)
    bsm = attribution.attribute(net, xs, method="bsm", boundary=xb, **kw)
    return torch.nn.functional.cosine_similarity(sm, bsm, dim=1)


def prop32_check(net: nn.Sequential, xs: Tensor, segments: list[Segment], *, samples: int = 2000,
                 seed: int = 0) -> dict[str, Tensor]:
    """Proposition 3.2 at the points ``xs`` (B, 2), each for its predicted class c, with g = ∇z_c and δ = r =
    ‖x − x′‖ (x′ the exact nearest boundary point): ``lhs`` = ‖n − g(x)‖ with n = g(x′) (the nearest segment's
    normal), ``rhs`` = λ̂·r with λ̂ the largest ‖g(x″) − g(x)‖ / ‖x″ − x‖ over ``samples`` points x″ drawn uniformly
    from the ball B(x, δ) (seeded; x′ itself is not among them, so λ̂ estimates Definition 3.1's λ from below)."""
    from ...gradients import input_grad

    g0 = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        c = net(xs).argmax(1)
    lhs, rhs = [], []
    for x, ci in zip(xs, c):
        xb, r, _ = nearest_boundary(x, segments)
        ang = torch.rand(samples, generator=g0, dtype=x.dtype) * 2 * math.pi
        rad = r * torch.rand(samples, generator=g0, dtype=x.dtype).sqrt()
        pts = x + rad[:, None] * torch.stack([ang.cos(), ang.sin()], 1)
        g = input_grad(net, torch.cat([x[None], xb[None], pts]), int(ci))
        ratio = (g[2:] - g[0]).norm(dim=1) / (pts - x).norm(dim=1).clamp_min(1e-12)
        lhs.append((g[1] - g[0]).norm())
        rhs.append(ratio.max() * r)
    return {"lhs": torch.stack(lhs), "rhs": torch.stack(rhs)}
