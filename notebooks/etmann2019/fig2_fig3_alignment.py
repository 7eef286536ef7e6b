# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# cohort's best is drawn grey and left out of the claims (the table lists it).

# %% tags=["parameters"]
profile = "default"

# %%
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import display
from scipy import stats

from rilib.papers import etmann2019 as etmann
from rilib import plotting, profiles, results

plotting.setup()
rec = results.Recorder("etmann2019/fig2_fig3_alignment", profile=profile)
plotting.page_header(profile, "etmann_mnist")
plotting.page_header(profile, "etmann_complex", substitute=etmann.substitute_sentence(profile))

# %%
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

# %%
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
# c1: Spearman correlation over the cohort between M[α] and M[robustness] for each notion (positive = increases).
# c2: curvature of M[α] as a function of M[ρ̃]: the slope over the upper half of the robustness range divided by
# the slope over the lower half (< 1: saturating, > 1: superlinear).
# c3: for how many models the BIM and CW medians are below the gradient attack's median.
#
# The curvature of c2 rests on the 7 non-degenerate MNIST models and is fragile at this scale: at the default
# profile, a build whose models were trained with two torch threads per process gave 1.41 (not saturating), one with
# a single thread per worker process gave 0.88 (saturating) — only the floating-point summation order differs.
# Read its verdict with that in mind.

# %%
def half_slope_ratio(t):
    t = t.sort_values("M_rho_tilde")
    r, a = t["M_rho_tilde"].to_numpy(), t["M_alpha"].to_numpy()
    k = len(r) // 2
    lo = np.polyfit(r[: k + 1], a[: k + 1], 1)[0]
    hi = np.polyfit(r[k:], a[k:], 1)[0]
    return float(hi / lo) if lo != 0 else float("nan")


for name in ("mnist", "complex"):
    t = tables[name][~tables[name].degenerate]
    rec(f"degenerate_{name}", int(tables[name].degenerate.sum()))
    for notion in etmann.ROBUSTNESS_NOTIONS:
        col = "M_rho_tilde" if notion == "rho_tilde" else f"M_{notion}"
        rho = stats.spearmanr(t[col], t["M_alpha"]).statistic if len(t) > 2 else float("nan")
        rec(f"spearman_{name}_{notion}", float(rho), fmt="{:.2f}")
    rec(f"curvature_{name}", half_slope_ratio(t), fmt="{:.2f}")
    rec(f"attacks_below_gradient_{name}", float(np.mean((t["M_bim"] <= t["M_gradient"]) & (t["M_cw"] <= t["M_gradient"]))),
        fmt="{:.2f}")
    rec(f"n_models_{name}", len(t))
    rec(f"spearman_lambda_rho_{name}", float(stats.spearmanr(t["lam_paper"], t["M_rho_tilde"]).statistic)
        if len(t) > 2 else float("nan"), fmt="{:.2f}")
    ratio = (t["M_rho_tilde"] / t["M_cw"]).to_numpy()
    rec(f"rho_tilde_over_cw_{name}", ratio.tolist(), glue=False)
    rec(f"rho_tilde_over_cw_min_{name}", float(np.min(ratio)), fmt="{:.2f}")
    rec(f"rho_tilde_over_cw_max_{name}", float(np.max(ratio)), fmt="{:.2f}")
    rank = [float(stats.spearmanr(t["M_rho_tilde"], t[f"M_{k}"]).statistic) if len(t) > 2 else float("nan")
            for k in ("gradient", "bim", "cw")]
    rec(f"rank_agreement_min_{name}", float(np.min(rank)), fmt="{:.2f}")
    rec(f"M_alpha_{name}", t["M_alpha"].tolist(), glue=False)
    rec(f"M_rho_tilde_{name}", t["M_rho_tilde"].tolist(), glue=False)
    rec(f"fail_cw_{name}", t["fail_cw"].tolist(), glue=False)
rec("spearman_min", min(v for k, v in rec.values.items() if k.startswith("spearman_")), fmt="{:.2f}")
display({k: v for k, v in rec.values.items() if not isinstance(v, list)})
