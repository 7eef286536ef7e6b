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
# # Wang et al. 2022, Tables 1, 5, 6 and 7 — the boundary search and how close attributions are to their boundary variants
#
# Wang et al. {cite}`wang2022` explain a prediction at its closest decision boundary: the boundary saliency map
# BSM(x) = ∇f_c(x′) and boundary Integrated Gradients BIG(x) = IG from x′ to x, with x′ the closest adversarial example
# an ensemble of attacks finds (App. B.2). Table 5 reports that ensemble stage by stage; Table 1 that attributions of
# robust models lie much closer to their boundary variants (‖SM − BSM‖, ‖IG − AGI‖, ‖IG − BIG‖) than those of
# standard models — the paper's explanation of why robust models' attributions look sharper.
#
# **Our reading.** Maps are signed (target = the true, predicted class); IG starts from a black image; AGI is Pan et
# al.'s path method as published (see `rilib.attribution.paths`). Raw norms as the paper, and a scale-free version
# (cosine distance 1 − cos) because robust gradients are smaller overall. The search's PGD step is 2ε/steps absolute
# at every rung (the paper's code passed 2ε/steps as a fraction of ε, an absolute step of 2ε²/steps). The bisection
# onto the boundary is ours and is shown as a separate last stage; BSM/BIG use the closest point of all stages.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from rilib import plotting, profiles, results
from rilib.evaluation import ratio_interval
from rilib.papers.wang2022 import claims, cohort, jobs

plotting.setup()
W = profiles.get(profile).wang
rec = results.Recorder("wang2022/table1_table5_boundary", profile=profile)
plotting.page_header(profile, "wang", substitute=(
    "Paper: ResNet-50s on ImageNet (standard, ℓ2|3.0, ℓ∞|4/255, ℓ∞|8/255) and CIFAR-10 (standard, ℓ2|0.5). Here: Kim "
    "et al.'s Fashion-MNIST CNNs — the Kim chapter's own models (same zoo entries) — standard, L2-trained at ε = 1 "
    "and 2, L∞-trained at ε = 0.05 and 0.1 (pixels in [0, 1]), because the ResNet-50 weights and ImageNet are not "
    "on this machine."))
names = cohort.names(profile)
jobs.prepare(profile)
S = {n: jobs.search(n, profile) for n in names}
A = {n: jobs.attributions(n, profile) for n in names}

# %% [markdown]
# ## Table 5 — the boundary search, stage by stage
# Average ℓ2 distance to the returned point over the points found so far, success rate, and the per-instance time
# (cumulative; the time column the paper's caption promises). Paper (ImageNet, PGDs → +CW → +AutoPGD):
# standard 0.549 → 0.548 → 0.548 (72.1 %), ℓ2|3.0 2.870 → 2.617 → 2.617 (74.1 %), ℓ∞|4/255 2.385 → 2.058 → 2.058,
# ℓ∞|8/255 2.378 → 1.949 → 1.949; CIFAR-10 standard 0.412 → 0.120 → 0.120 (98.7 %), ℓ2|0.5 1.288 → 1.096 → 1.096.

# %% tags=["hide-input"]
rows = []
for n in names:
    for r in claims.table5_rows(S[n]):
        rows.append({"model": cohort.label(n), **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}})
t5 = pd.DataFrame(rows)
t5["stage"] = t5["stage"].replace({"pgd": "PGDs", "cw": "+ CW", "apgd": "+ AutoPGD", "bisect": "+ bisection (ours)"})
display(t5)
gain_cw, gain_apgd, rel_apgd, succ_cw, succ_apgd = {}, {}, {}, {}, {}
for n in names:
    gain_cw[n], _, succ_cw[n] = claims.stage_gain(S[n], "pgd", "cw")
    gain_apgd[n], rel_apgd[n], succ_apgd[n] = claims.stage_gain(S[n], "cw", "apgd")
    rec(f"cw_gain_{cohort.key(n)}", gain_cw[n], fmt="{:.4f}")
    rec(f"cw_success_gain_{cohort.key(n)}", succ_cw[n], fmt="{:.3f}")
rec("cw_success_gain_max", max(succ_cw.values()), fmt="{:.3f}")
rec("apgd_rel_gain_max", max(rel_apgd.values()), fmt="{:.4f}")
rec("apgd_success_gain_max", max(succ_apgd.values()), fmt="{:.3f}")
ens = {n: S[n]["l2_apgd"][S[n]["success_apgd"].astype(bool)] for n in names}
for n in names[1:]:
    rec(f"farther_ratio_{cohort.key(n)}", ratio_interval(ens[n], ens["standard"]), fmt="{:.2f}")
print("CW's mean reduction over the points PGD found (t-interval):",
      "; ".join(f"{cohort.label(n)} {gain_cw[n]:.3f}" for n in names))
print("AutoPGD's further relative reduction:", "; ".join(f"{cohort.label(n)} {rel_apgd[n]:.4f}" for n in names))

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.8), sharey=True)
for ax, n in zip(axes, names):
    stages = [str(s) for s in S[n]["stages"]]
    data = [S[n][f"l2_{s}"][S[n][f"success_{s}"].astype(bool)] for s in stages]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(stages) + 1), ["PGD", "+CW", "+APGD", "+bis."], rotation=30)
    ax.set_title(cohort.label(n))
axes[0].set_ylabel("ℓ2 distance to the boundary point")
fig.tight_layout()
plotting.save(fig, "wang2022_table5")
plt.show()

# %% [markdown]
# ## Table 1 — attributions against their boundary variants
# Mean over each model's correctly classified images (t-interval); raw ℓ2 as the paper, and the cosine distance.
# Paper (ImageNet: standard, ℓ2|3.0, ℓ∞|4/255, ℓ∞|8/255): SM−BSM 8.48, 0.41, 2.25, 1.61; IG−AGI 13.52, 0.36, 1.19,
# 0.86; IG−BIG 17.07, 0.69, 1.74, 1.45 (CIFAR-10 standard / ℓ2|0.5: 59.96 / 1.23, 28.20 / 1.43, 31.22 / 2.73).

# %% tags=["hide-input"]
PAPER = {"standard": (8.48, 13.52, 17.07), "l2": (0.41, 0.36, 0.69), "linf-small": (2.25, 1.19, 1.74),
         "linf-large": (1.61, 0.86, 1.45)}
D = {n: claims.pair_distances(A[n]) for n in names}
T1 = {n: claims.table1_row(D[n]) for n in names}
rows = []
for n in names:
    row = {"model": cohort.label(n)}
    for pair, _, _ in claims.PAIRS:
        row[f"{pair} raw"] = f"{T1[n][f'{pair}_raw'].estimate:.3f} ± {T1[n][f'{pair}_raw'].hi - T1[n][f'{pair}_raw'].estimate:.3f}"
        row[f"{pair} 1−cos"] = f"{T1[n][f'{pair}_cos'].estimate:.3f}"
    rows.append(row)
display(pd.DataFrame(rows).rename(columns=lambda c: c.replace("sm_bsm", "SM−BSM").replace("ig_agi", "IG−AGI")
                                  .replace("ig_big", "IG−BIG")))
display(pd.DataFrame([{"paper model": k, "SM−BSM": v[0], "IG−AGI": v[1], "IG−BIG": v[2]} for k, v in PAPER.items()])
        .assign(**{"paper model": ["standard", "ℓ2|3.0", "ℓ∞|4/255", "ℓ∞|8/255"]}))
for n in names:
    for k, v in T1[n].items():
        rec(f"t1_{k}_{cohort.key(n)}", v, fmt="{:.4f}")
for n in names[1:]:
    for pair, _, _ in claims.PAIRS:
        for kind in ("raw", "cos"):
            rec(f"gap_{pair}_{kind}_{cohort.key(n)}", claims.robust_gap(D["standard"][f"{pair}_{kind}"], D[n][f"{pair}_{kind}"]),
                fmt="{:.4f}")
# within a norm: the smaller training ε minus the larger (above 0: the larger ε is closer)
for small, large in (("l2-ce-1", "l2-ce-2"), ("linf-ce-0.05", "linf-ce-0.1")):
    if small in D and large in D:
        for pair, _, _ in claims.PAIRS:
            rec(f"eps_gap_{pair}_{cohort.key(large)}", claims.robust_gap(D[small][f"{pair}_raw"], D[large][f"{pair}_raw"]),
                fmt="{:.4f}")
for linf in ("linf-ce-0.05", "linf-ce-0.1"):
    if linf in D and "l2-ce-2" in D:
        for pair, _, _ in claims.PAIRS:
            rec(f"l2_gap_{pair}_{cohort.key(linf)}", claims.robust_gap(D[linf][f"{pair}_raw"], D["l2-ce-2"][f"{pair}_raw"]),
                fmt="{:.4f}")

# %% tags=["hide-input"]
fig, axes = plt.subplots(2, 3, figsize=(11, 5.2))
for j, (pair, a, b) in enumerate(claims.PAIRS):
    for i, kind in enumerate(("raw", "cos")):
        ax = axes[i, j]
        ax.boxplot([D[n][f"{pair}_{kind}"][np.isfinite(D[n][f"{pair}_{kind}"])] for n in names], showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), [cohort.label(n) for n in names], rotation=30)
        ax.set_title(f"‖{a.upper()} − {b.upper()}‖₂" if kind == "raw" else f"1 − cos({a.upper()}, {b.upper()})")
fig.tight_layout()
plotting.save(fig, "wang2022_table1")
plt.show()

# %% [markdown]
# Read the two rows together. A raw ℓ2 distance mixes direction and scale: robust models' gradients are smaller
# overall, so their raw distances shrink even where the maps point no closer to their boundary variants. The cosine
# distance keeps only the direction; note also that a robust model's boundary point x′ lies about twice as far from x
# as a standard model's (Table 5), so BSM is taken farther away.

# %% [markdown]
# ### Sec 3.2 — does the gradient point at the nearest boundary?
# On the standard model: the distance a line search along the normalised loss gradient needs to change the
# prediction, divided by the distance to the ensemble's boundary point (median over points; above 1 when the
# gradient misses the nearest boundary), and the median cos(SM, BSM) (1 when the saliency map is the normal of the
# nearest boundary). The paper: "iterative attacks beat single-step gradient attacks", so the gradient is often
# normal to another boundary segment's extension.

# %% tags=["hide-input"]
LS = jobs.line_search("standard", profile)
miss = claims.gradient_misses(LS["l2"], S["standard"]["l2_bisect"], 1.0 - D["standard"]["sm_bsm_cos"])
print(f"line search along the gradient / ensemble distance: median {miss['ratio']:.2f}; "
      f"median cos(SM, BSM) {miss['cos']:.2f} (standard model, {len(LS['l2'])} points; "
      f"line search failed on {int(np.isinf(LS['l2']).sum())})")
rec("sec32_ratio_median", miss["ratio"], fmt="{:.2f}")
_ = rec("sec32_cos_median", miss["cos"], fmt="{:.2f}")

# %% [markdown]
# ### The maps of a few images
# Signed maps (red positive, blue negative, each map scaled to its own maximum), standard model on top.

# %% tags=["hide-input"]
show = [n for n in ("standard", "l2-ce-2", "linf-ce-0.1") if n in names]
fig, axes = plt.subplots(len(show) * 2, 7, figsize=(10, 3.0 * len(show)))
for r, n in enumerate(show):
    for k in range(2):
        row = axes[2 * r + k]
        row[0].imshow(S[n]["x"][k, 0], cmap="gray")
        row[0].set_title(cohort.label(n) if k == 0 else "", fontsize=8)
        for c, m in enumerate(jobs.METHODS, 1):
            v = A[n][m][k, 0]
            lim = float(np.abs(v).max()) or 1.0
            row[c].imshow(v, cmap="RdBu_r", vmin=-lim, vmax=lim)
            if r == 0 and k == 0:
                row[c].set_title(m.upper(), fontsize=8)
for ax in axes.flat:
    ax.set_axis_off()
fig.tight_layout()
plotting.save(fig, "wang2022_maps")
plt.show()

# %% [markdown]
# ## Tables 6 and 7 — the hyper-parameters used, beside the paper's
# Paper, AGI (Table 6): ε 0.5 / 1.0 (CIFAR-10 standard / robust), 2.0 / 6.0 (ImageNet), top-k 10 / 15, 15 iterations.
# Paper, attacks (Table 7, 100 steps): PGD ladder CIFAR-10 standard .2 … 1.0, robust .25 … 2; ImageNet standard
# 36/255 … 1.1, robust 1 … 6; CW ε 1.0 / 2.0 / 1.0 / 6.0, step 1e-3 / 1e-3 / 1e-2 / 5e-2; AutoPGD ε 1.0 / 2.0 / 1.1 /
# 6.0. The paper works in normalised ImageNet units (≈ 4.4× our [0, 1] pixel units).

# %% tags=["hide-input"]
used = []
for n in names:
    c = jobs.search_config(n, profile)
    used.append({"model": cohort.label(n), "PGD ladder (L2, [0, 1])": ", ".join(f"{e:g}" for e in c["ladder"]),
                 "PGD steps / step": f"{c['pgd_steps']} / 2ε/{c['pgd_steps']}",
                 "CW acceptance ε / steps × binary / lr": f"{c['cw']['eps']:g} / {c['cw']['steps']} × "
                 f"{c['cw']['binary_search_steps']} / {c['cw']['stepsize']:g}",
                 "APGD ε / steps": f"{c['apgd']['eps']:g} / {c['apgd']['steps']} (CE and DLR, ART)",
                 "bisection (ours)": c["bisect"],
                 "AGI ε / iterations / classes": f"{W.agi_eps:g} / {W.agi_iters} / "
                 f"{'all 9 others' if W.agi_targets is None else W.agi_targets}",
                 "IG / BIG points": W.ig_steps})
display(pd.DataFrame(used))

# %% tags=["remove-input"]
rec.show_claims()
