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
# # Kim et al. 2019, Figs 4 and 5 — ROAR and KAR: are robust networks' gradients quantitatively more interpretable?
#
# Kim et al. {cite}`kim2019` (Sec 3.2) score two attributions of every classifier — the loss gradient
# g_G = |∇ₓ ℓ| and gradient × input g_GX = |x̃ ⊙ ∇_x̃ ℓ| (x̃ the input in [−1, 1]), at the predicted label, summed
# over channels — with ROAR and KAR {cite}`hooker2019`: the attribution ranks the pixels of every training and test
# image; a fraction of them (0.1 … 0.9) is replaced by the dataset mean, the most important ones (ROAR) or the least
# important ones (KAR); a fresh network is retrained on the occluded training set and tested on the occluded test
# set. The curve's endpoints are fixed (fraction 0: the standard classifier's accuracy, 1: chance). μ_ROAR = area
# over the ROAR curve and μ_KAR = area under the KAR curve, each minus the random attribution's; higher is better.
# Fig 4 plots the scores against the training ε, Fig 5 against the classifier's clean accuracy.
#
# **Substitute and cuts.** The paper sweeps 81 CIFAR-10 networks (21 ε per norm and objective). Here: the 13
# Fashion-MNIST classifiers of {doc}`models` (the standard net and three ε per norm × objective, the paper's own
# FMNIST grid) — 4 points per curve instead of 21. At the default profile each point is the mean of 3 retrainings (as
# the paper) of a one-hidden-layer MLP (784-256-10) for 3 epochs on the classifiers' 2 000 training images (paper: its
# CNN, 20 epochs, the full set): on these images the MLP reaches 80 % clean accuracy with a seed spread of 0.6 points in
# 0.3 s, where small batch-norm ResNets reached 55–68 % with spreads of 2–4 points in 3.8 s. The random baseline is
# retrained with 10 seeds, and the spread of its areas measures the noise of one retraining; a model's curve, the mean
# of 3, has that noise / √3. Every interval on this page is a 95 % interval of that noise (Student's t over the 10
# seeds, times √2 for a difference of two scores; retraining noise, not a bootstrap).
# Correlations over 4 points are reported as they are, without intervals.
#
# **KAR's x-axis.** As in Kim et al.'s text ("for KAR, we replaced the pixels estimated to be least important"),
# both curves are plotted against the fraction *removed*.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import numpy as np
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from rilib import plotting, profiles, results
from rilib.evaluation import roar
from rilib.papers.kim2019 import claims, cohort, roar_kar

plotting.setup()
R = profiles.get(profile).kim_roar
rec = results.Recorder("kim2019/fig4_fig5_roar_kar", profile=profile)
plotting.page_header(profile, ["kim_roar", "kim_models"])

# %% [markdown]
# ## Retraining
# 13 classifiers × 2 attributions × the profile's fractions × ROAR/KAR, and the random baseline (cached; worker
# processes).

# %% tags=["hide-input"]
c = roar_kar.curves(profile)
sc = roar_kar.scores(c)
noise = roar_kar.noise(c)
models = c["models"]
stats = claims.roar_statistics(models, sc, c["clean_acc"], noise)
display(pd.DataFrame([{"model": m.label, "clean accuracy": c["clean_acc"][m.name],
                       **{f"μ_{mode.upper()} {meth}": sc[f"{m.name}/{meth}"][mode]
                          for mode in roar.MODES for meth in roar_kar.METHODS}} for m in models]).round(4))
print(f"noise of one retrained curve's area (sd over {len(R.random_seeds)} random-baseline seeds): "
      f"ROAR {noise['single_roar']:.4f}, KAR {noise['single_kar']:.4f}; of a model's curve (mean of "
      f"{noise['repeats']} retrainings): ROAR {noise['roar']:.4f}, KAR {noise['kar']:.4f}")
for mode in roar.MODES:
    rec(f"noise_{mode}", noise[mode], fmt="{:.4f}")

# %% [markdown]
# ### The retrained curves of the standard and the strongest L2-XEnt net

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for ax, mode in zip(axes, roar.MODES):
    x, y = roar.full_curve(c["random"][mode], c["fractions"], start=c["start"], end=0.1)
    ax.plot(x, y, "k--", label="random")
    for m in (models[0], cohort.panel(models, "l2", "ce")[-1]):
        for meth, ls in (("G", "-"), ("GX", ":")):
            x, y = roar.full_curve(c["accuracies"][f"{m.name}/{meth}"][mode], c["fractions"], start=c["start"], end=0.1)
            ax.plot(x, y, ls, marker="o", ms=3, label=f"{m.label.split(' (')[0]}, {meth}")
    ax.set_title(mode.upper())
    ax.set_xlabel("fraction of pixels removed")
    ax.set_ylabel("test accuracy of the retrained net")
axes[1].legend(fontsize="x-small")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Figure 4: score against the training ε; Figure 5: score against clean accuracy
# Rows: ROAR, KAR. Columns: XEnt, CW. One line per (norm, attribution); the legend gives Pearson / Spearman over
# the curve's points (paper: CIFAR-10, 21 points; values in the claims below).

# %% tags=["hide-input"]
colours = {("l2", "GX"): "#C44E52", ("linf", "GX"): "#4C72B0", ("l2", "G"): "#DD8452", ("linf", "G"): "#55A868"}
for fig_no, xkey in ((4, "eps"), (5, "acc")):
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), squeeze=False)
    for r, mode in enumerate(roar.MODES):
        for col, obj in enumerate(cohort.OBJECTIVES):
            ax = axes[r, col]
            for (nrm, meth), colour in colours.items():
                chain = cohort.panel(models, nrm, obj)
                top = max(m.eps for m in chain)
                xs = [m.eps / top for m in chain] if xkey == "eps" else [c["clean_acc"][m.name] for m in chain]
                ys = [sc[f"{m.name}/{meth}"][mode] for m in chain]
                tag = f"{mode}_{meth.lower()}_{nrm}_{obj}"
                ax.plot(xs, ys, marker="o", color=colour,
                        label=f"{cohort._NORM_NAME[nrm]}-{meth} {stats[f'pearson_{xkey}_{tag}']:.2f}/"
                              f"{stats[f'spearman_{xkey}_{tag}']:.2f}")
            ax.set_title(f"{mode.upper()}, {cohort._OBJ_NAME[obj]}")
            ax.set_xlabel("ε / ε_max" if xkey == "eps" else "clean test accuracy")
            ax.set_ylabel(f"μ_{mode.upper()}")
            ax.legend(fontsize="x-small")
    fig.suptitle(f"Kim et al. 2019, Fig {fig_no} (Fashion-MNIST substitute)", y=1.0)
    fig.tight_layout()
    plotting.save(fig, f"kim2019_fig{fig_no}")
    plt.show()

# %% [markdown]
# ## Claims
# `rise` = score at the largest ε minus the standard net's (per curve), `gx_minus_g` = mean over models of GX − G,
# `adv_minus_std` = the worst adversarially trained net minus the standard net, `l2_minus_linf` = how far the L2
# curve lies above the L∞ curve at matched clean accuracy (Fig 5); 95 % intervals of the retraining noise.

# %% tags=["hide-input"]
for k, v in stats.items():
    rec(k, v, fmt="{:.4f}" if hasattr(v, "lo") else "{:.3f}")
display(pd.Series({k: str(v) if hasattr(v, "lo") else f"{v:.3f}" for k, v in stats.items()
                   if not k.startswith(("spearman", "pearson"))}, name="estimate [95 % noise interval]"))

# %% tags=["remove-input"]
rec.show_claims()
