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
# # Wang et al. 2022, Table 4, Fig 8 and Fig 11 — the axioms, the Er activation and smoothing
#
# **Table 4** lists properties of IG (black baseline), AGI and BIG; the paper states them, the book measures two of
# them: *completeness* (Σ attribution = f_c(x) − f_c(x′)) on the substitute models, and *symmetry* (two features a
# network treats alike get the same attribution) on App. C's example f = min(x, y) and on a random ReLU network
# symmetric in two inputs. **Fig 8** draws the Er activation of Theorem 3.3's proof, E[ReLU(u + ε′)] with Gaussian
# ε′, and the book checks the identity by Monte Carlo. **Fig 11** tests Theorem 3.3's take-away on a deep net: the
# distance between SmoothGrad at x and at the smoothed model's boundary point falls as the noise σ grows.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from rilib import attribution, plotting, profiles, results
from rilib.attacks.boundary import boundary_search
from rilib.papers.wang2022 import axioms, claims, cohort, jobs, smoothing

plotting.setup()
W = profiles.get(profile).wang
rec = results.Recorder("wang2022/table4_fig8_fig11_theory", profile=profile)
plotting.page_header(profile, "wang", substitute=(
    "Paper: ResNet-50 on ImageNet (Fig 11: 500 images). Here: Kim et al.'s standard Fashion-MNIST CNN (the Kim "
    "chapter's model) and the first correctly classified test images."))
names = cohort.names(profile)
jobs.prepare(profile)

# %% [markdown]
# ## Table 4 — completeness, measured
# Per image |Σ map − Δf| / |Δf| (median over the first `completeness_points` images of each model; the profile
# table), for IG (Δf = z_c(x) − z_c(black)) and BIG
# (Δf = z_c(x) − z_c(x′)), at the paper's 20 trapezoid points and at 100. Captum's `riemann_trapezoid` weights sum
# to (n − 1)/n, so the maps the paper computed were 5 % short at 20 points: the last column is BIG with Captum's
# weights as they are; the book's maps use the corrected weights.

# %% tags=["hide-input"]
rows, gaps = [], {}
for n in names:
    c = jobs.completeness(n, profile)
    g = {f"{m}_{k}": np.median(claims.relative_completeness_gap(c[f"{m}_{k}"], c[f"delta_{m}"]))
         for m in ("ig", "big") for k in (20, 100)}
    g["big_captum_20"] = np.median(claims.relative_completeness_gap(c["big_captum_20"], c["delta_big"]))
    gaps[n] = g
    rows.append({"model": cohort.label(n), **{k: f"{v:.2e}" for k, v in g.items()}})
display(pd.DataFrame(rows))
rec("big_completeness_gap_20", max(g["big_20"] for g in gaps.values()), fmt="{:.2e}")
rec("big_completeness_gap_100", max(g["big_100"] for g in gaps.values()), fmt="{:.2e}")
rec("ig_completeness_gap_20", max(g["ig_20"] for g in gaps.values()), fmt="{:.2e}")
rec("ig_completeness_gap_100", max(g["ig_100"] for g in gaps.values()), fmt="{:.2e}")
_ = rec("big_captum_gap_20", max(g["big_captum_20"] for g in gaps.values()), fmt="{:.3f}")

# %% [markdown]
# ## Table 4 — symmetry, measured
# App. C: f = min(x, y) at (1, 1) from (0, 0). The straight path (IG) splits the output equally; the two staircase
# paths give everything to one input. (The paper writes "1 for both variables" for the straight path; by
# completeness the two shares sum to f(1, 1) − f(0, 0) = 1, so each is 1/2.) Then a random ReLU classifier symmetric
# in features 0 and 1, at 32 inputs with equal features 0 and 1: the relative gap |a₀ − a₁| / (|a₀| + |a₁|) of IG
# (black baseline), of BIG (boundary point from the search without PGD's random start, which keeps x′ symmetric) and
# of AGI.

# %% tags=["hide-input"]
f = lambda v: axioms.MinModel()(v)[:, 0]  # noqa: E731
one, zero = torch.ones(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
paths = {"straight (IG)": [zero, one], "(0,0)→(1,0)→(1,1)": [zero, torch.tensor([1.0, 0.0], dtype=torch.float64), one],
         "(0,0)→(0,1)→(1,1)": [zero, torch.tensor([0.0, 1.0], dtype=torch.float64), one]}
sym = {k: axioms.path_attribution(f, v) for k, v in paths.items()}
display(pd.DataFrame([{"path": k, "a_x": float(v[0]), "a_y": float(v[1])} for k, v in sym.items()]))
rec("staircase_gap", min(claims.symmetry_gap(sym[k].numpy()[None]) for k in list(paths)[1:]), fmt="{:.3f}")
rec("min_straight_gap", claims.symmetry_gap(sym["straight (IG)"].numpy()[None]), fmt="{:.2e}")

net = axioms.symmetric_net()
g = torch.Generator().manual_seed(1)
xs = torch.rand(32, 6, generator=g)
xs[:, 1] = xs[:, 0]
bd = boundary_search(net, xs, bounds=(0.0, 1.0), ladder=[0.25, 0.5, 1.0, 2.0], pgd_steps=50, bisect=20,
                     random_start=False)
maps = {"IG": attribution.attribute(net, xs, method="integrated_gradients", abs=False, n_steps=50),
        "BIG": attribution.attribute(net, xs, method="big", boundary=bd.x_boundary, abs=False, n_steps=50),
        "AGI": attribution.attribute(net, xs, method="agi", abs=False, eps=0.02, max_iter=30)}
sg = {k: claims.symmetry_gap(v.numpy()) for k, v in maps.items()}
print(f"boundary found for {int(bd.success.sum())}/32 inputs; |x′₀ − x′₁| max "
      f"{float((bd.x_boundary[:, 0] - bd.x_boundary[:, 1]).abs().max()):.1e}")
display(pd.DataFrame([{"method": k, "max relative gap |a₀ − a₁|/(|a₀| + |a₁|)": f"{v:.2e}"} for k, v in sg.items()]))
rec("sym_ig_gap", sg["IG"], fmt="{:.2e}")
rec("sym_big_gap", sg["BIG"], fmt="{:.2e}")
_ = rec("sym_agi_gap", sg["AGI"], fmt="{:.2e}")

# %% [markdown]
# ## Fig 8 — the Er activation, and a Monte-Carlo check of E[ReLU(u + ε′)] = Er(u; s)

# %% tags=["hide-input"]
u = torch.linspace(-1, 1, 41, dtype=torch.float64)
zmax, tail = 0.0, 0.0
fig, ax = plt.subplots(figsize=(5, 3.4))
for s in (0.035, 0.3, 1.0):
    e = smoothing.er(u, s)
    mc, _ = smoothing.relu_mean_mc(u, s, 1_000_000, seed=0)
    z, t = smoothing.mc_check(u, s, 1_000_000, seed=0)
    zmax, tail = max(zmax, z), max(tail, t)
    ax.plot(u, e, label=f"Er(u; s = {s})")
    ax.plot(u[::4], mc[::4], "k.", ms=3)
ax.plot(u, torch.relu(u), "k--", lw=0.8, label="ReLU")
ax.set_xlabel("u")
ax.legend(frameon=False, fontsize=8)
ax.set_title("Er(u; s); dots: Monte-Carlo means (10⁶ draws)")
fig.tight_layout()
plotting.save(fig, "wang2022_fig8")
plt.show()
print(f"largest |Monte Carlo − Er| in Monte-Carlo standard errors, over the grid points where at least 0.1 % of the "
      f"draws are positive: {zmax:.2f}; largest |Monte Carlo − Er| at the other points (deep in the tail): {tail:.1e}")
rec("er_max_z", zmax, fmt="{:.2f}")
_ = rec("er_tail_abs_error", tail, fmt="{:.1e}")

# %% [markdown]
# How AGI could break symmetry: its path is a sequence of signed gradient steps, not a straight line. But at an input
# whose features 0 and 1 are equal, a network symmetric in them has equal partial derivatives in both, so every
# signed step moves both features alike and the path never leaves the symmetric plane; only an asymmetric choice of
# subgradient at a tie (or round-off) could split them. A gap of 0 above therefore says that AGI's path *need not*
# break symmetry where the paper's table marks it ✗; App. C's staircases are paths AGI itself does not take here.

# %% [markdown]
# ## Sec 3.1 — on a linear classifier every gradient method returns the boundary normal
# A random linear classifier (float64): the smallest cosine with the predicted class's weight row w_c, over 32
# inputs, of the saliency map, SmoothGrad (signed) and IG's integral part IG / (x − x₀). Linearity makes all three
# w_c: an identity check of the code.

# %% tags=["hide-input"]
lin = axioms.linear_equivalence()
display(pd.DataFrame([{"method": k.upper(), "smallest cos(map, w_c)": f"{v:.12f}"} for k, v in lin.items()]))
_ = rec("linear_min_cos", min(lin.values()), fmt="{:.12f}")

# %% [markdown]
# ## Theorem 3.3 / Corollary 3.4 — a smoothed one-layer network
# The theorem's network ReLU(Wx) under Gaussian noise of standard deviation σ is, in closed form, the Er network
# y_i = Er(w_iᵀx; σ‖w_i‖) (`rilib.papers.wang2022.smoothing.ErNet`). A random one (3 classes, 10 inputs, W ~ N(0, 1/10),
# seeded) at 64 Gaussian inputs, for σ from 0.05 to 3.2: x′ = its boundary point from the chapter's search (PGD
# ladder + bisection onto the boundary), g = the saliency map of the class at x. The theorem bounds ‖g(x) − g(x′)‖
# by λ = erf(‖w_i‖(‖x‖ + r)/(√2 s))·‖w_i‖ (eq. 19), which falls with σ; the paper reads this as "the smoother the
# model, the closer the saliency map to the boundary normal". Measured: the bound at every pair, λ's monotonicity,
# and whether the distance itself falls with σ.

# %% tags=["hide-input"]
r33 = jobs.theorem33(profile)
t33 = claims.theorem33_stats(r33["sigmas"], r33)
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.plot(r33["sigmas"], t33["median_distance"], "o-", label="median ‖g(x) − g(x′)‖")
ax.plot(r33["sigmas"], t33["median_lambda"], "s--", label="median λ (eq. 19)")
ax.set_xscale("log")
ax.set_xlabel("σ")
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()
plotting.save(fig, "wang2022_thm33")
plt.show()
print(f"{t33['points']} points with a boundary point at every σ; bound violated at {t33['violations']} (σ, point) "
      f"pairs; λ never rises with σ: {bool(t33['lambda_monotone'])}; Spearman(σ, median distance) "
      f"{t33['spearman']:.2f}")
rec("thm33_violations", t33["violations"])
rec("thm33_lambda_monotone", t33["lambda_monotone"])
_ = rec("thm33_spearman", t33["spearman"], fmt="{:.2f}")

# %% [markdown]
# ## Fig 11 — ‖SG(x) − SG(x′)‖ against σ
# The paper's procedure (App. B.8) on the standard model: the same noise draws for every image (NumPy seed 2020),
# PGD on the smoothed model (the loss summed over the noisy copies), ε = 3, step 2ε/steps, stopped per image once
# fewer than 10 % of its noisy copies keep the label; SmoothGrad (signed mean of the logit gradients) at x and x′
# over the same copies. Images whose noisy copies already lose the label at x itself are left out at that σ.

# %% tags=["hide-input"]
r = jobs.smoothgrad(profile)
ok = r["success"].astype(bool)
fig, ax = plt.subplots(figsize=(5, 3.4))
ax.boxplot([np.log(r["distance"][i][ok[i]]) for i in range(len(r["sigmas"]))], showfliers=False)
ax.set_xticks(range(1, len(r["sigmas"]) + 1), [f"{s:g}" for s in r["sigmas"]])
ax.set_xlabel("σ")
ax.set_ylabel("log ‖SG(x) − SG(x′)‖₂")
fig.tight_layout()
plotting.save(fig, "wang2022_fig11")
plt.show()
display(pd.DataFrame({"σ": r["sigmas"], "images used": ok.sum(1), "valid at x": r["valid"].sum(1),
                      "median log distance": [float(np.median(np.log(r["distance"][i][ok[i]]))) if ok[i].any()
                                              else np.nan for i in range(len(r["sigmas"]))]}))
_ = rec("fig11_spearman", claims.smoothing_trend(r["sigmas"], r["distance"], r["success"]), fmt="{:.2f}")

# %% tags=["remove-input"]
rec.show_claims()
