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
# # Wang et al. 2022, Figs 7, 12 and 18 — IG's baseline, and which object BIG marks
#
# **Fig 7.** IG's map is ∝ x − x_b: from a black baseline it lights up bright pixels, from a white one dark pixels,
# so the two baselines can tell opposite stories {cite}`wang2022`. On the canvas half of the garments are bright on a
# dark canvas and half dark on a bright one (inverted), so for every image one baseline has the garment's colour
# ("same colour": it should highlight the background) and the other the background's ("opposite": it should
# highlight the garment). BIG needs no baseline. We score the maps by EG (share of the positive mass inside the box)
# and compare BIG's two boundary searches (the full ensemble vs the PGD ladder alone) with IG's two baselines.
#
# **Figs 12 and 18.** On two-object canvases (two garments of different classes, 64 × 64, the standard model reads
# any size through its global average pooling), which garment does BIG mark? Fig 12: remove (fill with the canvas's
# background) the garment that holds more of BIG's positive mass, or the other one, and re-predict. Fig 18: does the
# garment of the predicted class hold more of BIG's mass than the other?

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from rilib import plotting, profiles, results
from rilib.evaluation import energy_game
from rilib.papers.wang2022 import localise, localise_claims as lc

plotting.setup()
C = profiles.get(profile).wang_canvas
B = int(C.n_boot)
rec = results.Recorder("wang2022/fig7_fig12_fig18_baselines", profile=profile)
plotting.page_header(profile, ["wang_canvas", "wang"], substitute=(
    "Paper: three ImageNet dog photographs (Fig 7), one two-dog photograph (Fig 12), ImageNet images with several "
    "objects (Fig 18), standard ResNet-50. Here: the boxed canvas (half inverted) and its two-object variant, the "
    "standard canvas CNN."))
localise.prepare(profile)
M = localise.maps("standard", profile)
T = localise.two_objects("standard", profile)

# %% [markdown]
# ## Fig 7 — black vs white baseline vs BIG (standard model)

# %% tags=["hide-input"]
inv = M["inverted"].astype(bool)
show = list(np.flatnonzero(~inv)[:2]) + list(np.flatnonzero(inv)[:2])
fig, axes = plt.subplots(len(show), 4, figsize=(6.4, 1.6 * len(show)), squeeze=False)
for r, i in enumerate(show):
    t, l, b, rr = M["boxes"][i].tolist()
    axes[r, 0].imshow(M["x"][i, 0], cmap="gray", vmin=0, vmax=1)
    axes[r, 0].add_patch(Rectangle((l - 0.5, t - 0.5), rr - l, b - t, fill=False, lw=1, edgecolor="tab:orange"))
    axes[r, 0].set_title("inverted" if inv[i] else "bright garment", fontsize=8)
    axes[r, 0].set_axis_off()
    for c, (k, name) in enumerate((("ig", "IG, black"), ("ig_white", "IG, white"), ("big", "BIG")), 1):
        plotting.show_image(axes[r, c], M[k][i], signed=True, title=name if r == 0 else None)
fig.tight_layout()
plotting.save(fig, "wang2022_fig7")
plt.show()

# %% tags=["hide-input"]
eg = {k: energy_game(M[k].astype(np.float64), M["boxes"]) for k in ("ig", "ig_white", "big", "bigp")}
for flag, name in ((False, "bright garments"), (True, "inverted")):
    sel = inv == flag
    print(f"{name} ({int(sel.sum())}): EG  IG-black {np.nanmean(eg['ig'][sel]):.2f}   "
          f"IG-white {np.nanmean(eg['ig_white'][sel]):.2f}   BIG {np.nanmean(eg['big'][sel]):.2f}   "
          f"BIGp {np.nanmean(eg['bigp'][sel]):.2f}")
F7 = lc.baseline_stats(eg, inv, M, n_boot=B)
print(f"mean Spearman ρ per image: BIG vs BIGp {F7['rho_big']:.2f}, IG-black vs IG-white {F7['rho_ig']:.2f}")
rec("fig7_opposite_minus_same", F7["opposite_minus_same"], fmt="{:.3f}")
rec("fig7_big_minus_same", F7["big_minus_same"], fmt="{:.3f}")
_ = rec("fig7_agreement", F7["agreement"], fmt="{:.3f}")

# %% [markdown]
# ## Figs 12 and 18 — two objects (standard model)

# %% tags=["hide-input"]
n_two = min(6, len(T["pred"]))  # none at the paper profile (no two-object photographs with boxes)
share = lc.box_share(T["big"][:n_two], T["boxes"][:n_two])
share_ig = lc.box_share(T["ig"][:n_two], T["boxes"][:n_two])
fig, axes = plt.subplots(3, max(n_two, 1), figsize=(9, 4.8), squeeze=False)
for c in range(n_two):
    t_ = T["x"][c, 0]
    axes[0, c].imshow(t_, cmap="gray", vmin=0, vmax=1)
    for k, colour in ((0, "tab:red"), (1, "tab:cyan")):
        t, l, b, r = T["boxes"][c, k].tolist()
        axes[0, c].add_patch(Rectangle((l - 0.5, t - 0.5), r - l, b - t, fill=False, lw=1, edgecolor=colour))
    changed = [("✗" if T["pred_without"][c, k] != T["pred"][c] else "·") for k in range(2)]
    axes[0, c].set_title(f"pred {int(T['pred'][c])}; −red {changed[0]} −cyan {changed[1]}", fontsize=6)
    axes[0, c].set_axis_off()
    plotting.show_image(axes[1, c], T["big"][c], signed=True,
                        title=f"BIG: red {share[c, 0]:.0%} cyan {share[c, 1]:.0%}")
    plotting.show_image(axes[2, c], T["ig"][c], signed=True,
                        title=f"IG: red {share_ig[c, 0]:.0%} cyan {share_ig[c, 1]:.0%}")
fig.suptitle("two garments: labels red / cyan box; ✗ = removing that garment changes the prediction", fontsize=9)
fig.tight_layout()
plotting.save(fig, "wang2022_fig12_fig18")
plt.show()

# %% tags=["hide-input"]
F12 = lc.counterfactual_stats(T, n_boot=B)
F18 = lc.multiobject_stats(T)
print(f"{F12['n']} of {len(T['pred'])} canvases predicted as one of their own garments' classes\n"
      "(and a boundary found); on those:")
print(f"Fig 12: the prediction changes after removing BIG's garment on {F12['rate_big']:.0%},\n"
      f"        after removing the other one on {F12['rate_other']:.0%}")
print(f"Fig 18: the predicted garment holds more of BIG's positive mass\n"
      f"        on {F18['wins']:.2f} of them (mean share {F18['share_pred']:.0%} vs {F18['share_other']:.0%})")
rec("fig12_gap", F12["gap"], fmt="{:.3f}")
rec("fig12_n", F12["n"])
_ = rec("fig18_wins", F18["wins"], fmt="{:.2f}")

# %% tags=["remove-input"]
rec.show_claims()
