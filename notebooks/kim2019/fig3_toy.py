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
# # Kim et al. 2019, Fig 3b — adversarial training removes the boundary tilt
#
# Kim et al. {cite}`kim2019` conjecture (Sec 2.2) that the decision boundary of a standard network is *tilted*
# along directions of low variance of the data, so small perturbations cross it and leave the data manifold, and
# that adversarial training removes the tilt — more so against a stronger adversary. They check it on two 2-D
# Gaussians with a two-layer ReLU network (Dense 128 – Dense 2) trained normally and against a weak and a strong
# L2 adversary, and draw L2 attacks of ε = 1 against the points of class 2.
#
# **Data.** Exactly the paper's toy (appendix A.1) with the authors' code's covariance: the appendix prints
# Σ₂₂ = 0.0002, which makes Σ not positive semi-definite; the code uses 0.002. Means ±(1.2, 0.1); rescaled into
# [−1, 1] by one global factor (which keeps the low-variance direction). All ε are in that scale.
#
# **Measure of tilt.** For each class-2 test point x we bisect the segment from x to its mirror image −x (a point
# of the class-1 distribution) for the decision boundary and take the angle between the boundary normal
# ∇(Ψ² − Ψ¹) there and the data's high-variance direction: 0° = the boundary cuts the data manifold at a right
# angle, 90° = it runs along it. We report the median over points, per training seed.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import numpy as np
import torch
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from rilib import data, geometry, plotting, profiles, results, zoo
from rilib.papers import kim2019

plotting.setup()
P = profiles.get(profile).kim_toy
rec = results.Recorder("kim2019/fig3_toy", profile=profile)
plotting.page_header(profile, "kim_toy")

# %% tags=["hide-input"]
toy = kim2019.toy_data(profile)
print(toy.description)
high_var, low_var = geometry.principal_directions(torch.tensor(data.GAUSSIAN_TOY_COV))
print("high-variance direction", high_var.numpy().round(4), " low-variance direction", low_var.numpy().round(4))
names = list(kim2019.MODELS)
labels = {"standard": "standard", "eps025": f"adversarial, L2 ε = {P.train_eps[0]}",
          "eps050": f"adversarial, L2 ε = {P.train_eps[1]}"}
specs = {(n, s): kim2019.spec(n, s, profile) for s in P.seeds for n in names}
zoo.prefetch(list(specs.values()), device="cpu")  # the missing ones, in parallel
entries = {k: zoo.get(sp, device="cpu") for k, sp in specs.items()}

# %% [markdown]
# ## Attacks and tilt

# %% tags=["hide-input"]
meas = {k: kim2019.measure(e.model, toy, profile) for k, e in entries.items()}
table = pd.DataFrame([{"model": n, "seed": s, "test acc": entries[(n, s)].test_acc,
                       "attack success": float(m["success"].mean()), "median tilt (deg)": float(np.nanmedian(m["tilt"])),
                       "crossings found": int(np.isfinite(m["tilt"]).sum()),
                       "median dist adv→class 1": float(np.median(m["dist_adv"])),
                       "train s": entries[(n, s)].meta["train_seconds"]} for (n, s), m in meas.items()])
display(table.round(3))

# %% [markdown]
# ## Claims
# Median over seeds of each model's median tilt and median distance of its adversarial examples to the class-1
# data, and the differences the claims compare, each with a 95 % bootstrap interval that resamples the seeds and the
# test points (`kim2019.statistics`).

# %% tags=["hide-input"]
stats = kim2019.statistics(meas, P.seeds)
display(pd.Series({k: str(v) for k, v in stats.items()}, name="estimate [95 % interval]"))
for k, v in stats.items():
    rec(k, v, fmt="{:.2f}")
for n in names:
    rec(f"acc_{n}", float(table[table.model == n]["test acc"].median()), fmt="{:.3f}")
    rec(f"tilt_per_seed_{n}", table[table.model == n]["median tilt (deg)"].tolist(), glue=False)

# %% [markdown]
# ## Figure 3b
# Top-left: the training data. Then, for seed 0, the decision regions (blue: class 1, red: class 2) of the standard
# network and of the networks trained against the weak and the strong adversary, with the L2 ε = 1 attacks
# (40 steps, no random start) against class-2 test points drawn as black segments ending in the adversarial example.

# %% tags=["hide-input"]
fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), sharex=True, sharey=True)
lim_x, lim_y = (-1.6, 1.6), (-1.2, 1.2)
ax = axes[0, 0]
sub = torch.randperm(len(toy.x_train), generator=torch.Generator().manual_seed(0))[:1500]
xt, yt = toy.x_train[sub].numpy(), toy.y_train[sub].numpy()
ax.scatter(*xt[yt == 0].T, s=3, c=plotting.PALETTE["class0"], label="class 1")
ax.scatter(*xt[yt == 1].T, s=3, c=plotting.PALETTE["class1"], label="class 2")
ax.set_title("training data")
ax.legend(loc="upper left", markerscale=4)
for ax, n in zip([axes[0, 1], axes[1, 0], axes[1, 1]], names):
    m = entries[(n, P.seeds[0])].model
    xx, yy, cls, _ = geometry.decision_grid(m, lim_x, lim_y, n=P.grid)
    ax.contourf(xx, yy, cls, levels=[-0.5, 0.5, 1.5], colors=[plotting.PALETTE["region0"], plotting.PALETTE["region1"]])
    ax.contour(xx, yy, cls, levels=[0.5], colors="k", linewidths=0.8)
    ax.scatter(*xt[yt == 0].T, s=2, c=plotting.PALETTE["class0"])
    ax.scatter(*xt[yt == 1].T, s=2, c=plotting.PALETTE["class1"])
    a, b = meas[(n, P.seeds[0])]["x"][:60].numpy(), meas[(n, P.seeds[0])]["x_adv"][:60].numpy()
    for p, q in zip(a, b):
        ax.plot([p[0], q[0]], [p[1], q[1]], c=plotting.PALETTE["attack"], lw=0.5, alpha=0.7)
    ax.scatter(*b.T, s=6, c=plotting.PALETTE["attack"], marker="x", lw=0.6)
    ax.set_title(f"{labels[n]}: tilt {stats[f'tilt_{n}'].estimate:.1f}°")
for ax in axes.flat:
    ax.set_xlim(*lim_x)
    ax.set_ylim(*lim_y)
    ax.set_aspect("equal")
fig.suptitle("Kim et al. 2019, Fig 3b: decision regions and L2 ε = 1 attacks on class 2", y=0.99)
fig.tight_layout()
plotting.save(fig, "kim2019_fig3b")
plt.show()

# %% [markdown]
# ## Verdict
# The claims: training against a stronger adversary removes the tilt to a larger degree (`tilt_drop_weak` and
# `tilt_drop_strong` above 0, intervals included), and the adversarial examples of robust models move towards the
# other class's data instead of off the manifold (`offmanifold_drop` above 0). The ledger reads these records.
#
# Here the median tilt is {glue:text}`tilt_standard` degrees for the standard network,
# {glue:text}`tilt_eps025` for ε = 0.25 and {glue:text}`tilt_eps050` for ε = 0.5 (estimate [95 % interval]); the
# drops are {glue:text}`tilt_drop_weak` and {glue:text}`tilt_drop_strong` degrees. The adversarial examples end
# {glue:text}`offmanifold_standard` from the nearest class-1 training point for the standard network and
# {glue:text}`offmanifold_eps050` for ε = 0.5.

# %% tags=["remove-input"]
rec.show_claims()
