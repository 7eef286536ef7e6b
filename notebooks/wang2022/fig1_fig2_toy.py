# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: rilib
#     language: python
#     name: rilib
# ---

# %% [markdown]
# # Wang et al. 2022, Figs 1 and 2 — saliency, boundary saliency, IG and BIG on a 2-D ReLU network
#
# The paper's Figs 1 and 2 are schematics: a saliency map is the normal of the boundary of the input's own linear
# region *extended*, which need not be the nearest piece of the decision boundary (Fig 2c); BSM is the normal of the
# nearest piece (Fig 1a); IG integrates from a baseline, BIG from the nearest boundary point (Fig 1b). This page
# draws them on a real network, as an **analogue** of the schematics: a random ReLU classifier on the plane
# (2 → 10 → 10 → 2), whose linear regions, decision boundary and *exact* nearest boundary point are computed in
# closed form (`rilib.papers.wang2022.toy`: the boundary inside each region is a line clipped by the region's
# half-planes). The attributions are the chapter's own (`rilib.attribution`).

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import torch

from rilib import plotting, results
from rilib.papers.wang2022 import toy

plotting.setup()
rec = results.Recorder("wang2022/fig1_fig2_toy", profile=profile)
plotting.page_header(profile, "wang", substitute="A generated 2-D ReLU classifier instead of the paper's drawings.")
LIM = 2.0
net = toy.toy_net(seed=0)
t = torch.linspace(-LIM, LIM, 241, dtype=torch.float64)
grid = torch.cartesian_prod(t, t)
segments = toy.boundary_segments(net, grid)
regions = toy.region_labels(net, grid).view(241, 241).T.numpy()
with torch.no_grad():
    margin = (net(grid)[:, 0] - net(grid)[:, 1]).view(241, 241).T.numpy()
baseline = torch.tensor([-LIM, -LIM], dtype=torch.float64)
points = {"near": torch.tensor([0.9, 0.6], dtype=torch.float64), "far": torch.tensor([-1.2, 0.8], dtype=torch.float64)}
E = {k: toy.explain(net, x, segments, baseline=baseline) for k, x in points.items()}
print(f"{int(regions.max()) + 1} linear regions on the square, {len(segments)} of them cut by the decision boundary")


# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
for ax, (k, e) in zip(axes, E.items()):
    plotting.plane_regions(ax, regions, margin, LIM)
    x, xb = points[k].numpy(), e["x_boundary"].numpy()
    a, b = e["own_line"]
    a = a.numpy()
    s = np.linspace(-3, 3, 2)
    foot = -b * a / (a @ a)
    ax.plot(foot[0] - a[1] / np.linalg.norm(a) * s * 2, foot[1] + a[0] / np.linalg.norm(a) * s * 2, "k--", lw=1,
            label="x's region boundary, extended")
    ax.plot(*x, "ko", ms=6)
    ax.annotate("x", x, xytext=(6, 6), textcoords="offset points")
    ax.plot(*xb, "r*", ms=12, label="nearest boundary point x′")
    ax.plot([x[0], xb[0]], [x[1], xb[1]], "r:", lw=1)
    plotting.arrow(ax, xb, e["bsm"].numpy(), "tab:red", "BSM = ∇z_c(x′)", length=0.5)
    plotting.arrow(ax, x, e["sm"].numpy(), "tab:blue", "SM = ∇z_c(x)", length=0.8)
    cos = float(np.dot(e["sm"], e["bsm"]) / np.linalg.norm(e["sm"]) / np.linalg.norm(e["bsm"]))
    ax.set_title(f"x {'near' if k == 'near' else 'far from'} the boundary: cos(SM, BSM) = {cos:.2f}", fontsize=10)
    rec(f"cos_sm_bsm_{k}", cos, fmt="{:.3f}")
axes[0].legend(loc="lower left", fontsize=7, frameon=True)
fig.suptitle("Fig 1a / Fig 2c analogue: the saliency map is normal to its own region's boundary line; BSM to the "
             "nearest boundary", fontsize=10)
fig.tight_layout()
plotting.save(fig, "wang2022_fig1a")
plt.show()

# %% [markdown]
# Left, the point is in a region that the decision boundary cuts: its saliency map is normal to the nearest piece
# of the boundary and equals BSM. Right, the nearest boundary lies beyond other regions: the saliency map is normal
# to the extension of its own region's boundary (dashed), which is not where the decision changes.

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
for ax, (k, e) in zip(axes, E.items()):
    plotting.plane_regions(ax, regions, margin, LIM)
    x, xb, x0 = points[k].numpy(), e["x_boundary"].numpy(), baseline.numpy()
    ax.plot([x0[0], x[0]], [x0[1], x[1]], color="tab:green", lw=2, label="IG path (baseline → x)")
    ax.plot([xb[0], x[0]], [xb[1], x[1]], color="tab:purple", lw=2, label="BIG path (x′ → x)")
    ax.plot(*x0, "gs", ms=7)
    ax.plot(*x, "ko", ms=6)
    ax.plot(*xb, "r*", ms=12)
    plotting.arrow(ax, x, e["ig"].numpy(), "tab:green", "IG(x)")
    plotting.arrow(ax, x, e["big"].numpy(), "tab:purple", "BIG(x)")
    ax.set_title(f"IG = ({e['ig'][0]:.2f}, {e['ig'][1]:.2f}), BIG = ({e['big'][0]:.2f}, {e['big'][1]:.2f})",
                 fontsize=10)
axes[0].legend(loc="upper left", fontsize=7, frameon=True)
fig.suptitle("Fig 1b analogue: IG integrates from a baseline across many regions, BIG from the nearest boundary "
             "point", fontsize=10)
fig.tight_layout()
plotting.save(fig, "wang2022_fig1b")
plt.show()

# %% [markdown]
# How often is the saliency map *not* the boundary normal on this network? cos(SM, BSM) at 400 random points of the
# square (each for its predicted class): 1 where the nearest boundary piece lies in the point's own region's line.

# %% tags=["hide-input"]
xs = (torch.rand(400, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1) * LIM
cos = toy.sm_bsm_cosines(net, xs, segments).numpy()
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.hist(cos, bins=40)
ax.set_xlabel("cos(SM, BSM)")
ax.set_ylabel("points")
fig.tight_layout()
plotting.save(fig, "wang2022_fig2_toy_cosines")
plt.show()
rec("toy_share_sm_not_bsm", float(np.mean(cos < 0.99)), fmt="{:.2f}")
print(f"cos(SM, BSM) < 0.99 at {np.mean(cos < 0.99):.0%} of the points; median {np.median(cos):.2f}")

# %% [markdown]
# ## Proposition 3.2 on this network
# If the saliency map is (λ, δ)-locally robust at x (Definition 3.1) and the nearest boundary point x′ lies within
# δ, then ‖n − g(x)‖ ≤ λ‖x − x′‖ with n the normal of the nearest boundary piece. Here g = ∇z_c, n = g(x′), δ =
# ‖x − x′‖ and λ estimated as the largest ‖g(x″) − g(x)‖ / ‖x″ − x‖ over 2 000 points x″ drawn from B(x, δ) (x′ not
# among them), at 100 random points of the square. The proposition follows from the definition, so this checks the
# code and how well the sampled λ estimates the supremum.

# %% tags=["hide-input"]
xs32 = (torch.rand(100, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1) * LIM
p32 = toy.prop32_check(net, xs32, segments)
viol = int((p32["lhs"] > p32["rhs"] + 1e-9).sum())
tight = float((p32["lhs"] / p32["rhs"].clamp_min(1e-12)).max())
print(f"‖n − g(x)‖ ≤ λ̂·‖x − x′‖ violated at {viol} of 100 points; largest ratio of the two sides {tight:.2f}")
rec("prop32_violations", viol)

# %% tags=["remove-input"]
rec.show_claims()
