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
# # Etmann et al. 2019, Figs 6–9 — how the bounds of Theorems 2 and 3 are made up
#
# For each model, the paper compares the median of each summand with the median of the right-hand side of the
# inequalities {cite}`etmann2019`:
#
# - Fig 6, ineq. (18): ρ̃ ≤ α†(x) + |β†|/‖g†‖ — share of α†;
# - Fig 7, ineq. (19): ρ̃ ≤ α(x) + ‖x‖‖ḡ† − ḡ‖ + |β†|/‖g†‖ — share of α;
# - Fig 8, ineq. (20): ρ̃ ≤ |⟨ξ, γ̄⟩| + ‖ξ‖‖ḡ† − γ̄‖ with ξ = x + β†/‖g†‖ · ḡ† and γ = ∇Ψ^{i*}(ξ) — share of the
#   ξ-alignment;
# - Fig 9: M[|⟨x, g†⟩|] / M[|Ψ†(x)|], how much of the binarized logit is its linear part.
#
# "Share" = median of the summand / sum of the medians of the summands (the paper's "portion of the right-hand
# side"; it does not say whether it plots a ratio of medians or a median of ratios — the table also lists the
# median of the pointwise ratios for Fig 6). Everything is plotted against M[ρ̃].
# Paper: on ImageNet the α† share rises from ≈ 0.55 to ≈ 0.85 (c6), the α share grows about 7-fold (c7), the ξ share
# grows (c8) and the Fig 9 ratio increases; on MNIST the α† share decreases, the α and ξ shares stay roughly
# constant and the Fig 9 ratio falls below 0.5 near M[ρ̃] ≈ 2.4 (c9; the paper's text and caption disagree on
# Fig 9, see the ledger).

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from IPython.display import display

from rilib.papers import etmann2019 as etmann
from rilib import plotting, results

plotting.setup()
rec = results.Recorder("etmann2019/fig6_fig9_bounds", profile=profile)
plotting.page_header(profile, "etmann_complex", substitute=etmann.substitute_sentence(profile))

# %% tags=["hide-input"]
tables, cohorts = {}, {}
for name in ("mnist", "complex"):
    models, meas = etmann.measured_cohort(name, profile)
    cohorts[name] = (models, meas)
    t = etmann.summarize(models, meas)
    t["median_of_ratios_18"] = [float(np.median(m["alpha_dagger"] / (m["alpha_dagger"] + m["beta_term"])))
                                for m in meas]
    rec(f"degenerate_{name}", int(t.degenerate.sum()))
    t = t[~t.degenerate]  # see the Fig 2/3 page: models past the point where they degenerate are left out
    t = t.sort_values("M_rho_tilde").reset_index(drop=True)
    tables[name] = t
    display(t[["lam_paper", "M_rho_tilde", "share_alpha_dagger_18", "median_of_ratios_18", "share_alpha_19",
               "share_xi_20", "ratio_linear_9"]].round(3))

# %% tags=["hide-input"]
fig, axes = plt.subplots(2, 4, figsize=(17, 7.5))
specs = [("share_alpha_dagger_18", "Fig 6: share of α† in (18)"), ("share_alpha_19", "Fig 7: share of α in (19)"),
         ("share_xi_20", "Fig 8: share of |⟨ξ, γ̄⟩| in (20)"), ("ratio_linear_9", "Fig 9: M|⟨x,g†⟩| / M|Ψ†|")]
for row, name, label in ((0, "complex", etmann.cohort_title("complex", profile)),
                         (1, "mnist", "MNIST")):
    t = tables[name]
    for col, (key, title) in enumerate(specs):
        ax = axes[row, col]
        ax.plot(t["M_rho_tilde"], t[key], "o-", ms=4)
        ax.set_xlabel("M[ρ̃]")
        ax.set_title(f"{title}\n{label}", fontsize=9)
        rec(f"{key}_{name}", t[key].tolist(), glue=False)
    rec(f"M_rho_tilde_{name}", t["M_rho_tilde"].tolist(), glue=False)
fig.tight_layout()
plotting.save(fig, "etmann2019_fig6_fig9")
plt.show()

# %% [markdown]
# ## Claims
# Over the non-degenerate models ordered by M[ρ̃], with 95 % bootstrap intervals over the evaluation points
# (`etmann.bound_statistics`): Spearman of each share against M[ρ̃] (c6, c8, c9), the growth of the α share in (19)
# from the least to the most robust model (c7, paper ≈ 7), the range of each share minus the range of the Fig 6
# share (< 0: "roughly constant" compared with Fig 6; c7, c8), the largest Fig 9 ratio over the less robust half and
# the ratio of the most robust model (c9), and the smallest share(18) − share(19) over the models (fig7-looser).

# %% tags=["hide-input"]
stats = {name: etmann.bound_statistics(*cohorts[name]) for name in ("mnist", "complex")}
for name, st in stats.items():
    for k, v in st.items():
        rec(f"{k}_{name}", v, fmt="{:.3f}")
display(pd.DataFrame({name: {k: str(v) for k, v in st.items()} for name, st in stats.items()}))

# %% tags=["remove-input"]
rec.show_claims()
