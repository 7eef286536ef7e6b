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
# # Wang et al. 2022, Figs 5, 6, 13 and 14 — GT-Loc against the threshold percentile
#
# GT-Loc(q) {cite}`wang2022` borrows weakly supervised object localisation's score: threshold the attribution map at
# its q-th percentile, draw a box around what is left, and count the images whose box overlaps the true one with
# IoU > 0.5. The paper: on the standard model SmoothGrad is best and BIG second (Fig 5); on the robust one BIG is best
# (Fig 6); a threshold near q = 40 % is best for every method (Fig 13); blurring the maps first (σ = 3 px on 224 px)
# changes the scores but not the ranking (Fig 14).
#
# **Our reading** (`rilib.evaluation.gt_loc`): |g| is thresholded at its own q-th percentile per image; the predicted
# box surrounds the largest 8-connected component of the kept pixels (the WSOL convention; the paper does not say
# whether it boxes the whole mask); a method's summary is its curve's mean height over q = 0, 10, …, 90. The blur is
# scaled to the canvas: σ = 3 · 56 / 224 = 0.75 px.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from rilib import plotting, profiles, results
from rilib.papers.wang2022 import localise, localise_claims as lc

plotting.setup()
C = profiles.get(profile).wang_canvas
B, qs, blur = int(C.n_boot), [float(q) for q in C.gt_q], float(C.gt_blur)
rec = results.Recorder("wang2022/fig5_fig6_fig13_fig14_gtloc", profile=profile)
plotting.page_header(profile, ["wang_canvas", "wang"], substitute=(
    "Paper: 1 500 ImageNette images with boxes, standard and ℓ2|3.0 ResNet-50s. Here: the boxed canvas and the "
    "canvas CNNs (standard, ℓ2 ε = 1) of the Table 3 page, the same images and maps."))
localise.prepare(profile)
M = {n: localise.maps(n, profile) for n in localise.MODELS}
H = {n: lc.gtloc_hits(M[n], M[n]["boxes"], localise.METHODS, qs) for n in localise.MODELS}
HB = {n: lc.gtloc_hits(M[n], M[n]["boxes"], localise.METHODS, qs, blur_sigma=blur) for n in localise.MODELS}
AUC = {n: lc.gtloc_auc(H[n]) for n in localise.MODELS}
AUCB = {n: lc.gtloc_auc(HB[n]) for n in localise.MODELS}

# %% [markdown]
# ## Figs 5, 6 and 13 (left: standard, right: robust) and Fig 14 (the same after a blur)

# %% tags=["hide-input"]
styles = {m: dict(lw=2.4 if m in ("big", "sg") else 1.2, ls="-" if m in ("big", "sg", "agi", "bsm") else "--")
          for m in localise.METHODS}
for title, hits, name in (("GT-Loc (Figs 5, 6, 13)", H, "wang2022_fig13"),
                          (f"GT-Loc after a Gaussian blur, σ = {blur:g} px (Fig 14)", HB, "wang2022_fig14")):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, n in zip(axes, localise.MODELS):
        for m in localise.METHODS:
            ax.plot(qs, hits[n][m].mean(axis=1), label=localise.LABELS[m], **styles[m])
        ax.set_title(localise.label(n, profile))
        ax.set_xlabel("threshold percentile q")
    axes[0].set_ylabel("GT-Loc (IoU > 0.5)")
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plotting.save(fig, name)
    plt.show()

# %% tags=["hide-input"]
best = {n: lc.best_q(H[n], qs) for n in localise.MODELS}
rows = []
for n in localise.MODELS:
    for m in localise.METHODS:
        rows.append({"model": localise.label(n, profile), "method": localise.LABELS[m],
                     "mean GT-Loc": round(float(AUC[n][m].mean()), 3),
                     "with blur": round(float(AUCB[n][m].mean()), 3), "best q": best[n][m]})
display(pd.DataFrame(rows).pivot(index="method", columns="model"))
boxes = M["standard"]["boxes"]
share = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / float(M["standard"]["x"].shape[-1] ** 2)
print(f"the boxes cover {np.median(share):.0%} of the canvas (median; {share.min():.0%} – {share.max():.0%}):\n"
      f"a threshold keeping about that share of the pixels, q ≈ {100 * (1 - np.median(share)):.0f}, fits the box")

# %% tags=["hide-input"]
rec("fig5_sg_margin", lc.gtloc_margin(AUC["standard"], "sg", n_boot=B), fmt="{:.3f}")
rec("fig5_big_second_margin", lc.gtloc_margin(AUC["standard"], "big", exclude=("sg",), n_boot=B), fmt="{:.3f}")
rec("fig6_big_margin", lc.gtloc_margin(AUC["robust"], "big", n_boot=B), fmt="{:.3f}")
all_q = [q for n in localise.MODELS for q in best[n].values()]
rec("fig13_best_q_min", min(all_q), fmt="{:g}")
rec("fig13_best_q_max", max(all_q), fmt="{:g}")
rec("fig13_box_share_median", float(np.median(share)), fmt="{:.2f}")
bs = {n: lc.blur_stats(AUC[n], AUCB[n]) for n in localise.MODELS}
rec("fig14_tau_min", min(b["tau"] for b in bs.values()), fmt="{:.2f}")
_ = rec("fig14_change_min", min(b["change"] for b in bs.values()), fmt="{:.3f}")

# %% tags=["remove-input"]
rec.show_claims()
