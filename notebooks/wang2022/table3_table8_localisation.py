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
# # Wang et al. 2022, Tables 2, 3 and 8, Figs 3–6, 9, 10, 13, 14, 16 and 17 — do attributions fall on the object?
#
# Wang et al. {cite}`wang2022` score eight attribution methods on 1 500 ImageNette images with bounding boxes, on a
# standard and an ℓ2|3.0-robust ResNet-50, with four localisation metrics (App. B.1): **Loc.** (IoU of the positive
# pixels with the box), **EG** (energy-based pointing game: share of the positive mass inside the box), **PP**
# (positive proportion: positive mass in the box over all absolute mass in the box) and **Con.** (concentration:
# mass weighted by the inverse distance to its centre of mass inside the box). Table 3: BIG is best on both models;
# Table 8: BIG with a PGD-only search (BIGp) is as good; Table 2: on the standard model, how well an attribution
# aligns with its boundary variant correlates with how well it localises (Loc., EG), not with PP and Con.
# Figs 5, 6, 13 and 14: GT-Loc, the share of images whose thresholded map boxes the object (SG best on the standard
# model, BIG on the robust one).
#
# **Our reading.** Maps are signed, target = the true (= predicted) class; one value per pixel (grey canvases).
# SG is Smilkov's signed mean (σ = 0.15, the paper's code); IG and DeepLIFT start from a black image. Con. uses |g|
# as weights (the paper's text; its formula is signed, but a signed centre of mass is undefined when the map sums
# to about zero, and the paper's Con. ≈ 4 for the half-negative saliency map needs absolute values), distances
# floored at one pixel. All metrics: `rilib.evaluation.localisation`, cross-checked against Quantus below.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from matplotlib.patches import Rectangle

from rilib import plotting, profiles, results
from rilib.evaluation import quantus_crosscheck
from rilib.papers.wang2022 import localise, localise_claims as lc

plotting.setup()
C = profiles.get(profile).wang_canvas
B = int(C.n_boot)
rec = results.Recorder("wang2022/table3_table8_localisation", profile=profile)
plotting.page_header(profile, ["wang_canvas", "wang"], substitute=(
    "Paper: 1 500 ImageNette images with boxes; the standard and ℓ2|3.0 ResNet-50s of Engstrom et al. Here: the "
    "boxed canvas (Fashion-MNIST garments on a cluttered 56 × 56 canvas, half inverted) and a small batch-norm CNN "
    "with global average pooling, standard and ℓ2-adversarially trained at ε = 1, because ImageNette with boxes and "
    "the ResNet-50 weights are not on this machine."))
localise.prepare(profile)
M = {n: localise.maps(n, profile) for n in localise.MODELS}
ALL = localise.METHODS + ("bigp",)
S = {n: lc.scores(M[n], M[n]["boxes"], ALL) for n in localise.MODELS}
T3 = {n: {m: S[n][m] for m in localise.METHODS} for n in localise.MODELS}
for n in localise.MODELS:
    print(f"{localise.label(n, profile)}: test accuracy {localise.accuracy(n, profile):.1%}; "
          f"{len(M[n]['y'])} evaluation images;\n"
          f"  boundary found for {M[n]['success'].mean():.0%}, "
          f"median distance {np.median(M[n]['l2'][M[n]['success'].astype(bool)]):.2f}")

# %% [markdown]
# ## Table 3 — four metrics × eight methods
# Mean over each model's images (higher is better). Paper (ImageNette; BIG, BSM, AGI, SM, GTI, SG, IG, DeepLIFT):
# standard Loc. .38 .33 .33 .33 .35 .34 .34 .34, EG .54 .47 .48 .47 .46 .55 .50 .49, PP .87 .50 .58 .50 .50 .50 .51
# .53, Con. 4.35 3.88 4.01 3.92 3.94 4.06 3.97 3.93; ℓ2|3.0 Loc. .39 .33 .39 .33 .33 .34 .33 .33, EG .74 .60 .64
# .60 .63 .62 .65 .64, PP .92 .50 .88 .50 .55 .51 .65 .77, Con. 5.03 4.12 4.32 4.10 4.25 4.23 4.37 4.34. Con.'s
# scale depends on the resolution (its distances are in image widths): compare its ranking, not its values.

# %% tags=["hide-input"]
PAPER3 = {"standard": {"loc": [.38, .33, .33, .33, .35, .34, .34, .34], "eg": [.54, .47, .48, .47, .46, .55, .50, .49],
                       "pp": [.87, .50, .58, .50, .50, .50, .51, .53],
                       "con": [4.35, 3.88, 4.01, 3.92, 3.94, 4.06, 3.97, 3.93]},
          "robust": {"loc": [.39, .33, .39, .33, .33, .34, .33, .33], "eg": [.74, .60, .64, .60, .63, .62, .65, .64],
                     "pp": [.92, .50, .88, .50, .55, .51, .65, .77],
                     "con": [5.03, 4.12, 4.32, 4.10, 4.25, 4.23, 4.37, 4.34]}}
rows = []
for n in localise.MODELS:
    mu = lc.means(T3[n])
    for k in lc.METRICS:
        rows.append({"model": localise.label(n, profile), "metric": k, "source": "ours",
                     **{localise.LABELS[m]: round(mu[m][k], 3) for m in localise.METHODS}})
        rows.append({"model": localise.label(n, profile), "metric": k,
                     "source": "paper" if n == "standard" else "paper (ℓ2|3.0)",
                     **dict(zip((localise.LABELS[m] for m in localise.METHODS), PAPER3[n][k]))})
t3 = pd.DataFrame(rows).set_index(["model", "metric", "source"])
display(t3.style.format("{:.3g}").highlight_max(axis=1, props="font-weight: bold"))

# %% tags=["hide-input"]
key = {"standard": "std", "robust": "rob"}
for n in localise.MODELS:
    s, k_ = T3[n], key[n]
    for k in lc.METRICS:
        ex = ("sg",) if (n == "standard" and k == "eg") else ("agi",) if (n == "robust" and k == "loc") else ()
        suffix = {"sg": "_nosg", "agi": "_noagi"}[ex[0]] if ex else ""
        rec(f"tab3_{k_}_{k}_margin{suffix}", lc.margin(s, k, exclude=ex, n_boot=B), fmt="{:.3f}")
rec("tab3_std_eg_big_minus_sg", lc.difference(T3["standard"], "eg", "big", "sg", n_boot=B), fmt="{:.3f}")
rec("tab3_rob_loc_big_minus_agi", lc.difference(T3["robust"], "loc", "big", "agi", n_boot=B), fmt="{:.3f}")
rec("tab3_bsm_sig_better", lc.significantly_better(T3["standard"], "bsm", "sm", ("sm", "gti", "sg", "ig", "deeplift"),
                                                   n_boot=B))
rec("tab3_rvs_min", lc.robust_minus_standard(T3["standard"], T3["robust"], n_boot=B), fmt="{:.3f}")
_ = rec("tab3_boundary_pp_min", lc.boundary_pp_gain(T3["standard"], T3["robust"], n_boot=B), fmt="{:.3f}")

# %% [markdown]
# BIG's margin is mean(BIG) − the best other method's mean, with a paired bootstrap interval over images (an
# interval across 0 is a tie); on the standard model's EG it excludes SG and on the robust model's Loc. AGI, the
# two ties the paper's own numbers show, which are read separately.

# %% [markdown]
# ## Figs 3, 4, 16 and 17 — the maps side by side
# The paper's galleries show every method's map on the same images, standard model (Figs 3, 16) and ℓ2|3.0 model
# (Figs 4, 17): BIG's maps look sharper and sit on the object. The first canvases of each model here, every map in
# one visual style — signed, red positive, blue negative, each map scaled to its own largest |value| (the paper's
# "signed max") — with the true box on the image. Unlike the paper we do not blur the maps for display: what is
# shown is what the tables score. The claim's number is Con. above: BIG's margin on both models.

# %% tags=["hide-input"]
n_show = min(int(C.n_show) // 2, *(len(M[n]["y"]) for n in localise.MODELS))
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
# ## Figs 9 and 10 — the per-image scores

# %% tags=["hide-input"]
for n in localise.MODELS:
    fig, axes = plt.subplots(1, 4, figsize=(13, 2.9))
    for ax, k in zip(axes, lc.METRICS):
        data = [v[np.isfinite(v)] for v in (T3[n][m][k] for m in localise.METHODS)]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, 9), [localise.LABELS[m] for m in localise.METHODS], rotation=45, fontsize=7)
        ax.set_title({"loc": "Loc.", "eg": "EG", "pp": "PP", "con": "Con."}[k])
    fig.suptitle(f"{'Fig 9' if n == 'standard' else 'Fig 10'}: {localise.label(n, profile)} model", fontsize=10)
    fig.tight_layout()
    plotting.save(fig, f"wang2022_fig{9 if n == 'standard' else 10}")
    plt.show()

# %% [markdown]
# ## Table 8 — BIG with a PGD-only search (BIGp)
# Paper (BIG, BIGp, AGI, IG): standard Loc. .38 .38 .33 .34, EG .54 .54 .48 .50, PP .87 .87 .58 .51, Con. 4.35
# 4.35 4.01 3.97; ℓ2|3.0 Loc. .39 .39 .39 .33, EG .74 .76 .64 .65, PP .92 .96 .88 .65, Con. 5.03 5.10 4.32 4.37.

# %% tags=["hide-input"]
T8 = ("big", "bigp", "agi", "ig")
rows = []
for n in localise.MODELS:
    mu = lc.means(S[n])
    for k in lc.METRICS:
        rows.append({"model": localise.label(n, profile), "metric": k,
                     **{localise.LABELS[m]: round(mu[m][k], 3) for m in T8}})
display(pd.DataFrame(rows).set_index(["model", "metric"]))
rec("tab8_bigp_minus_agi_min", lc.bigp_vs_agi(S["standard"], S["robust"], n_boot=B), fmt="{:.3f}")
_ = rec("tab8_bigp_big_reldiff", lc.bigp_big_reldiff(S["standard"], S["robust"]), fmt="{:.3f}")

# %% [markdown]
# ## Table 2 — alignment with the boundary variant vs localisation (standard model)
# Pearson r across images between the alignment −‖X − Y‖₂ and X's score. Paper: SM–BSM .40 .46 −.19 .07; IG–AGI
# .24 .25 .05 −.03; IG–BIG .35 .30 .20 −.03 (Loc., EG, PP, Con.). The alignment is the paper's raw distance: where
# one map is much larger than the other, −‖X − Y‖₂ is about −‖X‖₂ and the row measures X's size, not its alignment
# (the maps' mean norms are printed below).

# %% tags=["hide-input"]
T2 = lc.alignment_stats(M["standard"], S["standard"], n_boot=B)
PAPER2 = {"sm_bsm": [.40, .46, -.19, .07], "ig_agi": [.24, .25, .05, -.03], "ig_big": [.35, .30, .20, -.03]}
rows = []
for p, x, y in lc.PAIRS:
    rows.append({"pair": f"{x.upper()}–{y.upper()}", "source": "ours", **{k: round(T2["r"][p][k], 2) for k in lc.METRICS}})
    rows.append({"pair": f"{x.upper()}–{y.upper()}", "source": "paper", **dict(zip(lc.METRICS, PAPER2[p]))})
display(pd.DataFrame(rows).set_index(["pair", "source"]))
norms = {k: float(np.linalg.norm(M["standard"][k].reshape(len(M["standard"][k]), -1), axis=1).mean())
         for k in ("sm", "bsm", "ig", "agi", "big")}
print("mean ‖map‖₂: " + ", ".join(f"{localise.LABELS[k]} {v:.3g}" for k, v in norms.items()))
rec("tab2_loc_eg_min", T2["loc_eg_min"], fmt="{:.2f}")
rec("tab2_pp_con_maxabs", T2["pp_con_maxabs"], fmt="{:.2f}")
_ = rec("tab2_gap", T2["gap"], fmt="{:.2f}")

# %% [markdown]
# ## Figs 5, 6, 13 and 14 — GT-Loc against the threshold percentile
#
# GT-Loc(q) borrows weakly supervised object localisation's score: threshold the attribution map at
# its q-th percentile, draw a box around what is left, and count the images whose box overlaps the true one with
# IoU > 0.5. The paper: on the standard model SmoothGrad is best and BIG second (Fig 5); on the robust one BIG is best
# (Fig 6); a threshold near q = 40 % is best for every method (Fig 13); blurring the maps first (σ = 3 px on 224 px)
# changes the scores but not the ranking (Fig 14).
#
# **Our reading** (`rilib.evaluation.gt_loc`): |g| is thresholded at its own q-th percentile per image; the predicted
# box surrounds the largest 8-connected component of the kept pixels (the WSOL convention; the paper does not say
# whether it boxes the whole mask); a method's summary is its curve's mean height over q = 0, 10, …, 90. The blur is
# scaled to the canvas: σ = 3 · 56 / 224 = 0.75 px.

# %% tags=["hide-input"]
qs, blur = [float(q) for q in C.gt_q], float(C.gt_blur)
H = {n: lc.gtloc_hits(M[n], M[n]["boxes"], localise.METHODS, qs) for n in localise.MODELS}
HB = {n: lc.gtloc_hits(M[n], M[n]["boxes"], localise.METHODS, qs, blur_sigma=blur) for n in localise.MODELS}
AUC = {n: lc.gtloc_auc(H[n]) for n in localise.MODELS}
AUCB = {n: lc.gtloc_auc(HB[n]) for n in localise.MODELS}

# %% [markdown]
# ### The curves: Figs 5, 6 and 13 (left: standard, right: robust) and Fig 14 (after a blur)

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

# %% [markdown]
# ## Cross-check against Quantus
# EG and Loc. recomputed by Quantus (`RelevanceMassAccuracy` on the positive part of the map, `TopKIntersection`
# with k = the number of positive pixels, converted to an IoU; normalisation and absolute values off) on the same
# maps: the largest difference from ours over every image, method and model.

# %% tags=["hide-input"]
worst = {"eg": 0.0, "loc": 0.0}
for n in localise.MODELS:
    for m in localise.METHODS:
        q = quantus_crosscheck(M[n][m].astype(np.float64), M[n]["boxes"])
        for k in worst:
            ok = np.isfinite(q[k]) & np.isfinite(S[n][m][k])
            worst[k] = max(worst[k], float(np.max(np.abs(q[k][ok] - S[n][m][k][ok]), initial=0.0)))
print(f"largest |ours − Quantus|: EG {worst['eg']:.2e}, Loc. {worst['loc']:.2e} "
      f"({len(localise.MODELS)} models × {len(localise.METHODS)} methods)")
_ = rec("quantus_max_diff", max(worst.values()), fmt="{:.1e}")

# %% tags=["remove-input"]
rec.show_claims()
