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
# # Kim et al. 2019, Fig 6 — loss gradients of standard, L∞- and L2-trained networks
#
# Kim et al. {cite}`kim2019` show the loss gradients ∇ₓ ℓ(x, ŷ) at the predicted label ŷ, summed over channels,
# of the standard net and of the nets trained against the strongest L∞ (ε = 0.2 in [−1, 1]) and L2 (ε = 4)
# XEnt adversaries, clipped to the 0.5 / 99.5 percentiles of each map. Their reading (Sec 3.3): robust nets' maps
# show the object; L∞ maps are very sparse but broken up, L2 maps smooth but less sparse.
#
# **Measures.** Over the first test images: the Gini coefficient of |g| (sparsity: 1 = all mass on one pixel), the
# total variation of g relative to its L1 mass (lower = smoother), and the Pearson correlation of |g| with the
# image (how much of the object the map shows); medians over images with 95 % bootstrap intervals.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import numpy as np
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from rilib import plotting, profiles, results
from rilib.papers.kim2019 import claims, cohort, jobs

plotting.setup()
P = profiles.get(profile).kim_models
F6 = profiles.get(profile).kim_fig6
rec = results.Recorder("kim2019/fig6_gradients", profile=profile)
plotting.page_header(profile, ["kim_fig6", "kim_models"])
TITLE = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
TAG = {"mnist": "mnist", "fashion-mnist": "fmnist"}

# %% tags=["hide-input"]
chosen, maps, images, stats = {}, {}, {}, {}
for ds in P.datasets:
    models = cohort.cohort(ds, profile)
    strongest = {nrm: cohort.panel(models, nrm, "ce")[-1] for nrm in cohort.NORMS}
    chosen[ds] = {"standard": models[0], "linf": strongest["linf"], "l2": strongest["l2"]}
    x, g = jobs.gradient_maps(list(chosen[ds].values()), profile)
    images[ds] = x
    maps[ds] = {k: g[m.name] for k, m in chosen[ds].items()}
    stats[ds] = claims.map_statistics(maps[ds], x.numpy(),
                                      differences=[("linf", "l2"), ("l2", "standard"), ("linf", "standard")])
rows = []
for ds in P.datasets:
    for k, m in chosen[ds].items():
        rows.append({"dataset": TITLE[ds], "model": m.label, "Gini of |g|": str(stats[ds][f"gini_{k}"]),
                     "TV / L1": str(stats[ds][f"tv_{k}"]), "corr(|g|, image)": str(stats[ds][f"corr_{k}"])})
        for s in ("gini", "tv", "corr"):
            rec(f"{s}_{k}_{TAG[ds]}", stats[ds][f"{s}_{k}"], fmt="{:.3f}")
display(pd.DataFrame(rows))
for ds in P.datasets:
    for a, b in [("linf", "l2"), ("l2", "standard"), ("linf", "standard")]:
        for s in ("gini", "tv", "corr"):
            rec(f"{s}_{a}_minus_{b}_{TAG[ds]}", stats[ds][f"{s}_{a}_minus_{b}"], fmt="{:.3f}")

# %% [markdown]
# ## Figure 6

# %% tags=["hide-input"]
lo_q, hi_q = F6.clip_percentiles
for ds in P.datasets:
    fig, axes = plt.subplots(4, F6.n_gallery, figsize=(2.2 * F6.n_gallery, 8.6), squeeze=False)
    for j in range(F6.n_gallery):
        plotting.show_image(axes[0, j], images[ds][j, 0].numpy(), "original" if j == 0 else None)
        for i, k in enumerate(("standard", "linf", "l2"), 1):
            g = maps[ds][k][j]
            lo, hi = np.percentile(g, [lo_q, hi_q])
            plotting.show_image(axes[i, j], np.clip(g, lo, hi), chosen[ds][k].label.split(" (")[0] if j == 0 else None,
                                signed=True)
    fig.suptitle(f"Kim et al. 2019, Fig 6 ({TITLE[ds]}): loss gradients, clipped to the {lo_q}/{hi_q} percentiles",
                 y=1.0)
    fig.tight_layout()
    plotting.save(fig, f"kim2019_fig6_{TAG[ds]}")
    plt.show()

# %% tags=["remove-input"]
rec.show_claims()
