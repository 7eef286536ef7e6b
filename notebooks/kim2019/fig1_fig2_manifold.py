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
# # Kim et al. 2019, Figs 1 and 2 — adversarial examples of robust networks lie closer to the image manifold
#
# Kim et al. {cite}`kim2019` (Sec 2.1) attack every classifier with an L2 PGD attack of ε = 12 in their [−1, 1]
# pixel scale (6 in ours), cross-entropy, no random start, and project each adversarial example onto an
# approximate image manifold with a VAE-GAN, π(x) = Dec(Enc(x)). Fig 1 shows, per training adversary (L2 / L∞,
# XEnt / CW), the density of d_π = ‖x − π(x)‖₂ for the test images and the adversarial examples of the standard
# net and of the three adversarially trained ones; the x-axis is min–max normalised by the test images' d_π range.
# Fig 2 shows adversarial examples of the standard and the L2-XEnt nets. Failed attacks are removed (their loss
# gradients are likely saturated, Sec 2.1).
#
# **Judged by the attacked model.** The original code judged the success of an attack by the *standard* model's
# prediction whatever model was attacked; here the attacked model judges its own adversarial examples (the share
# the standard model would have judged successful is in the table).
#
# **"Looks like the target class", measured.** Beside the pictures we ask an independently trained standard net
# (another seed) to classify each successful adversarial example: the share it puts in the attacked model's
# adversarial class. If adversarial examples of robust nets take on the other class's features, that share grows
# with the training ε.
#
# The VAE-GANs that define π are shown on {doc}`their own page <vaegan>`. The classifiers and their accuracies:
# {doc}`models`.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import numpy as np
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import display

from rilib import plotting, profiles, results, zoo
from rilib.papers.kim2019 import claims, cohort, jobs

plotting.setup()
P = profiles.get(profile).kim_models
rec = results.Recorder("kim2019/fig1_fig2_manifold", profile=profile)
plotting.page_header(profile, ["kim_manifold", "kim_models"])
TITLE = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
TAG = {"mnist": "mnist", "fashion-mnist": "fmnist"}

# %% [markdown]
# ## Attacks and projections
# One job per model (cached), in parallel worker processes.

# %% tags=["hide-input"]
meas = {ds: jobs.measured(ds, profile) for ds in P.datasets}
models = {ds: cohort.cohort(ds, profile) for ds in P.datasets}
stats = {ds: claims.manifold_statistics(meas[ds], models[ds]) for ds in P.datasets}
table = pd.DataFrame([{"dataset": ds, "model": m.label, "attack success": st[f"success_{m.name}"].estimate,
                       "success judged by the standard net": float(np.mean(meas[ds][m.name]["success_by_standard"])),
                       "median d_π (successful)": str(st[f"dpi_{m.name}"]),
                       "judge agrees": str(st[f"judge_{m.name}"])}
                      for ds in P.datasets for m in models[ds] for st in [stats[ds]]])
display(table.round(3))

# %% [markdown]
# ## Figure 1
# Density of d_π per panel; the dashed curve is the clean test images. Each x-axis is min–max normalised by the
# test images' d_π range of that dataset (the paper's normalisation), so 1 is the most distant test image.

# %% tags=["hide-input"]
fig, axes = plt.subplots(len(P.datasets), 4, figsize=(15, 3.3 * len(P.datasets)), squeeze=False)
for r, ds in enumerate(P.datasets):
    clean = meas[ds]["standard"]["d_clean"]
    lo, hi = float(clean.min()), float(clean.max())
    norm = lambda d: (d - lo) / (hi - lo)  # noqa: E731
    for c, (nrm, obj) in enumerate(cohort.PANELS):
        ax = axes[r, c]
        sns.kdeplot(norm(clean), ax=ax, color="k", ls="--", label="test images", warn_singular=False)
        chain = cohort.panel(models[ds], nrm, obj)
        colours = sns.color_palette("rocket_r", len(chain))
        for m, col in zip(chain, colours):
            a = meas[ds][m.name]
            d = a["d_adv"][a["success"].astype(bool)]
            if d.size > 1:
                lab = "standard" if m.norm is None else f"ε = {m.eps_paper:g}"
                sns.kdeplot(norm(d), ax=ax, color=col, label=lab, warn_singular=False)
        ax.set_title(f"{TITLE[ds]}: {cohort._NORM_NAME[nrm]}-{cohort._OBJ_NAME[obj]}")
        ax.set_xlabel("normalised d_π")
        ax.legend(fontsize="x-small")
fig.suptitle("Kim et al. 2019, Fig 1: distance of adversarial examples (L2, ε = 12 in [−1, 1]) to the VAE-GAN manifold",
             y=1.0)
fig.tight_layout()
plotting.save(fig, "kim2019_fig1")
plt.show()

# %% [markdown]
# ## Figure 2
# The first test images, their adversarial examples against the standard net and the three L2-XEnt nets, with
# the attacked model's prediction under each.

# %% tags=["hide-input"]
n_show = 3
for ds in P.datasets:
    chain = cohort.panel(models[ds], "l2", "ce")
    x_test = zoo.load_data(cohort.spec(chain[0], profile)).x_test
    fig, axes = plt.subplots(n_show, len(chain) + 1, figsize=(2.0 * (len(chain) + 1), 2.1 * n_show), squeeze=False)
    for i in range(n_show):
        plotting.show_image(axes[i, 0], x_test[i, 0].numpy(), "original" if i == 0 else None)
        for j, m in enumerate(chain, 1):
            a = meas[ds][m.name]
            lab = "standard" if m.norm is None else f"L2 ε = {m.eps_paper:g}"
            plotting.show_image(axes[i, j], a["x_adv_gallery"][i, 0], f"{lab}\npred {a['pred_adv'][i]}")
    fig.suptitle(f"Kim et al. 2019, Fig 2 ({TITLE[ds]})", y=1.0)
    fig.tight_layout()
    plotting.save(fig, f"kim2019_fig2_{TAG[ds]}")
    plt.show()

# %% [markdown]
# ## Claims
# Per dataset and panel: `dpi_drop` = median d_π(standard) − median d_π(largest ε), `dpi_mindrop` = median d_π(standard)
# − the largest median of the three adversarially trained nets (> 0: every adversarially trained net's
# adversarial examples are closer), `dpi_spearman` = Spearman correlation of the median d_π with ε over the
# standard net and the three ε (< 0: larger ε, closer), `judge_gain` = judge agreement at the largest ε minus the
# standard net's; 95 % bootstrap intervals over the test images.

# %% tags=["hide-input"]
summary = {}
for ds in P.datasets:
    for nrm, obj in cohort.PANELS:
        tag = f"{nrm}_{obj}"
        for stat in ("dpi_drop", "dpi_mindrop", "dpi_spearman", "judge_gain"):
            name = f"{stat}_{TAG[ds]}_{tag}"
            rec(name, stats[ds][f"{stat}_{tag}"], fmt="{:.2f}")
            summary.setdefault(f"{TITLE[ds]} {cohort._NORM_NAME[nrm]}-{cohort._OBJ_NAME[obj]}", {})[stat] = \
                str(stats[ds][f"{stat}_{tag}"])
    rec(f"dpi_clean_{TAG[ds]}", stats[ds]["dpi_clean"], fmt="{:.2f}")
display(pd.DataFrame(summary).T)

# %% tags=["remove-input"]
rec.show_claims()
