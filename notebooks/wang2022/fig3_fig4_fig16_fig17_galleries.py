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
# # Wang et al. 2022, Figs 3, 4, 16 and 17 — the attributions side by side
#
# The paper's galleries {cite}`wang2022` show every method's map on the same images, for the standard ResNet-50
# (Figs 3, 16) and the ℓ2|3.0 one (Figs 4, 17): BIG's maps look sharper and sit on the object. The same canvases
# here, every map in one visual style — signed, red positive, blue negative, each map scaled to its own largest
# |value| (the paper's "signed max") — with the true box drawn on the image. Unlike the paper we do not blur the maps
# for display: what is shown is what Table 3 scores.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from rilib import plotting, profiles, results
from rilib.papers.wang2022 import localise, localise_claims as lc

plotting.setup()
C = profiles.get(profile).wang_canvas
rec = results.Recorder("wang2022/fig3_fig4_fig16_fig17_galleries", profile=profile)
plotting.page_header(profile, ["wang_canvas", "wang"], substitute=(
    "Paper: ImageNette photographs, standard and ℓ2|3.0 ResNet-50s. Here: the boxed canvas and the canvas CNNs "
    "(standard, ℓ2 ε = 1) of the Table 3 page, the same images and maps."))
localise.prepare(profile)
M = {n: localise.maps(n, profile) for n in localise.MODELS}
n_show = min(int(C.n_show) // 2, *(len(M[n]["y"]) for n in localise.MODELS))

# %% tags=["hide-input"]
for n in localise.MODELS:
    m = M[n]
    fig, axes = plt.subplots(n_show, 9, figsize=(11, 1.3 * n_show), squeeze=False)
    for i in range(n_show):
        t, l, b, r = m["boxes"][i].tolist()
        axes[i, 0].imshow(m["x"][i, 0], cmap="gray", vmin=0, vmax=1)
        axes[i, 0].add_patch(Rectangle((l - 0.5, t - 0.5), r - l, b - t, fill=False, lw=1, edgecolor="tab:orange"))
        for j, meth in enumerate(localise.METHODS, 1):
            plotting.show_image(axes[i, j], m[meth][i], signed=True,
                                title=localise.LABELS[meth] if i == 0 else None)
        axes[i, 0].set_axis_off()
    fig.suptitle(f"{localise.label(n, profile)} model (Figs {'3, 16' if n == 'standard' else '4, 17'})", fontsize=10)
    fig.tight_layout()
    plotting.save(fig, f"wang2022_gallery_{n}")
    plt.show()

# %% [markdown]
# "More concentrated on the object" in numbers: Con. (App. B.1) — BIG's margin over the best other method on the
# Table 3 images (paired bootstrap interval over images; the full table is on the Table 3 page).

# %% tags=["hide-input"]
B = int(C.n_boot)
for n, k in (("standard", "std"), ("robust", "rob")):
    s = lc.scores(M[n], M[n]["boxes"], localise.METHODS)
    iv = rec(f"fig34_con_margin_{k}", lc.margin(s, "con", n_boot=B), fmt="{:.3f}")
    print(f"{localise.label(n, profile)}: Con. of BIG − best other {iv:.3f}")

# %% tags=["remove-input"]
rec.show_claims()
