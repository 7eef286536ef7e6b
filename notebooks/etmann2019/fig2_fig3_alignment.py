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
# # Etmann et al. 2019, Figs 2 and 3 — median alignment against median robustness
#
# For every model of a cohort trained with double backpropagation at increasing λ, the paper plots the median
# alignment M[α] (eq. 7) against the median robustness, once per notion of robustness: the linearized robustness ρ̃
# (eq. 9) and the distances found by three attacks {cite}`etmann2019`. Fig 2 is the ImageNet cohort, Fig 3 the
# MNIST cohort. Claims: M[α] increases with robustness for every notion (c1); it saturates on MNIST but grows
# superlinearly on ImageNet (c2); the elaborate attacks (BIM, CW) find smaller perturbations than the gradient attack
# (c3).
#
# **Substitute.** Paper: ImageNet, ResNet-50 fine-tuned from pretrained weights. Here (profiles `ci`, `default`):
# Fashion-MNIST and a small batch-norm ResNet trained from scratch — the contrast the paper draws is "deep,
# non-linear network on a harder dataset" vs "shallow network on MNIST", which this keeps; the scale does not.
#
# Attacks target the predicted class. A failed attack counts as +∞ in the medians (as in the original code); the
# share of failures is printed beside each median. λ is in the paper's convention (gradient of the batch-mean loss,
# B = 100); the per-example weight used by `rilib` is λ/B².
#
# **Degenerate models.** The paper chose its λ range to end "before the models start to degenerate". With our
# short training the strongest λ values do degenerate; a model whose test accuracy is more than 5 points below the
# cohort's best is drawn grey and left out of every claim's statistic (the table lists it; the ledger's measure
# texts say so).
#
# **Robustness notions.** ρ̃ (eq. 9) and, for each attack, the L2 norm of the perturbation it actually found: the
# gradient attack's line search, L2 BIM at its smallest successful ε (refined per example; the ε itself, an upper
# bound of the norm, is listed as `M_bim_eps`) and CW.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from IPython.display import display

from rilib.papers import etmann2019 as etmann
from rilib import plotting, profiles, results

plotting.setup()
rec = results.Recorder("etmann2019/fig2_fig3_alignment", profile=profile)
plotting.page_header(profile, "etmann_mnist")
plotting.page_header(profile, "etmann_complex", substitute=etmann.substitute_sentence(profile))

# %% tags=["hide-input"]
cohorts, tables = {}, {}
for name in ("mnist", "complex"):
    models = etmann.cohort(name, profile)
    ds, x, _ = etmann.eval_data(name, profile)
    print(f"{name}: {ds.description}; evaluating {len(x)} test points per model")
    meas = [etmann.measure(cm, x, profile=profile, name=name) for cm in models]
    cohorts[name] = (models, meas)
    tables[name] = etmann.summarize(models, meas)
    display(tables[name].round(4))

# %% [markdown]
# ## Figures 2 (complex cohort) and 3 (MNIST)

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
colors = {"rho_tilde": "k", "gradient": plotting.PALETTE["standard"], "bim": plotting.PALETTE["weak"],
          "cw": plotting.PALETTE["strong"]}
for ax, name, title in ((axes[0], "complex", "Fig 2 — " + ("ImageNet" if profile == "paper" else
                                                             "Fashion-MNIST (ImageNet substitute)")),
                        (axes[1], "mnist", "Fig 3 — MNIST")):
    t_all = tables[name]
    t = t_all[~t_all.degenerate]
    for notion, label in etmann.ROBUSTNESS_NOTIONS.items():
        col = "M_rho_tilde" if notion == "rho_tilde" else f"M_{notion}"
        xs, ys = t[col].to_numpy(), t["M_alpha"].to_numpy()
        order = np.argsort(xs)  # one point per model, joined in order of its robustness (not of λ)
        order = order[np.isfinite(xs[order])]
        ax.plot(xs[order], ys[order], "o-", c=colors[notion], label=label, ms=4)
        bad = t_all[t_all.degenerate]
        ax.plot(bad[col], bad["M_alpha"], "x", c="0.6", ms=6, label="degenerate model" if notion == "cw" and len(bad)
                else None)
    ax.set_xlabel("median robustness M[ρ]")
    ax.set_ylabel("median alignment M[α]")
    ax.set_title(title)
    ax.legend(fontsize=8)
fig.tight_layout()
plotting.save(fig, "etmann2019_fig2_fig3")
plt.show()

# %% [markdown]
# ## Claims
# Every statistic below is computed over the non-degenerate models by `etmann.alignment_statistics` and carries a
# 95 % bootstrap interval over the evaluation points (printed as `estimate [lower, upper]`); the ledger calls a
# claim reproduced only when the whole interval is on the paper's side.
# - c1: Spearman correlation over the cohort between M[α] and M[ρ] for each notion (positive = increases);
# - c2: curvature of M[α] as a function of M[ρ̃] — the quadratic coefficient of a least-squares fit on M[ρ̃]
#   rescaled to [0, 1] (< 0 saturating, > 0 superlinear; defined for any curve);
# - c3: the smallest over the models of 1 − max(M[ρ_BIM], M[ρ_CW]) / M[ρ_grad] (> 0: both elaborate attacks find
#   smaller perturbations than the gradient attack on every model);
# - Spearman(λ, M[ρ_CW]), the extremes of M[ρ̃]/M[ρ_CW], and the smallest rank agreement of the six pairs of notions.

# %% tags=["hide-input"]
stats = {}
for name in ("mnist", "complex"):
    stats[name] = etmann.alignment_statistics(*cohorts[name])
    for k, v in stats[name].items():
        rec(f"{k}_{name}", v, fmt="{:.2f}" if not isinstance(v, int) else None)
    t = tables[name][~tables[name].degenerate]
    rec(f"M_alpha_{name}", t["M_alpha"].tolist(), glue=False)
    rec(f"M_rho_tilde_{name}", t["M_rho_tilde"].tolist(), glue=False)
    rec(f"fail_cw_{name}", t["fail_cw"].tolist(), glue=False)
display(pd.DataFrame({name: {k: str(v) for k, v in st.items()} for name, st in stats.items()}))

# %% tags=["remove-input"]
rec.show_claims()
