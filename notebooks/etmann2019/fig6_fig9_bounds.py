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
# "Share" = median of the summand / median of the right-hand side (the paper does not say whether it plots a ratio
# of medians or a median of ratios; we use the former and record both). Everything is plotted against M[ρ̃].
# Paper: on ImageNet the α† share rises from ≈ 0.55 to ≈ 0.85 (c6), the α share grows about 7-fold (c7), the ξ share
# grows (c8) and the Fig 9 ratio increases; on MNIST the α† share decreases, the α and ξ shares stay roughly
# constant and the Fig 9 ratio falls below 0.5 near M[ρ̃] ≈ 2.4 (c9; the paper's text and caption disagree on
# Fig 9, see the ledger).

# %% tags=["parameters"]
profile = "default"

# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from IPython.display import display
from scipy import stats

from rilib.papers import etmann2019 as etmann
from rilib import plotting, results

plotting.setup()
rec = results.Recorder("etmann2019/fig6_fig9_bounds", profile=profile)
plotting.page_header(profile, "etmann_complex", substitute=etmann.substitute_sentence(profile))

# %%
tables = {}
for name in ("mnist", "complex"):
    models, meas = etmann.measured_cohort(name, profile)
    t = etmann.summarize(models, meas)
    t["median_of_ratios_18"] = [float(np.median(m["alpha_dagger"] / m["rhs14"])) for m in meas]
    rec(f"degenerate_{name}", int(t.degenerate.sum()))
    t = t[~t.degenerate]  # see the Fig 2/3 page: models past the point where they degenerate are left out
    t = t.sort_values("M_rho_tilde").reset_index(drop=True)
    tables[name] = t
    display(t[["lam_paper", "M_rho_tilde", "share_alpha_dagger_18", "median_of_ratios_18", "share_alpha_19",
               "share_xi_20", "ratio_linear_9"]].round(3))

# %%
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
        first, last = float(t[key].iloc[0]), float(t[key].iloc[-1])
        rec(f"{key}_{name}_first", first, fmt="{:.3f}")
        rec(f"{key}_{name}_last", last, fmt="{:.3f}")
        rec(f"{key}_{name}_growth", last / first if first else float("nan"), fmt="{:.2f}")
        rec(f"{key}_{name}_spearman",
            float(stats.spearmanr(t["M_rho_tilde"], t[key]).statistic) if len(t) > 2 else float("nan"), fmt="{:.2f}")
        rec(f"{key}_{name}", t[key].tolist(), glue=False)
    rec(f"ratio_linear_9_{name}_max", float(t["ratio_linear_9"].max()), fmt="{:.3f}")
    rec(f"fig7_looser_share_{name}", float((t["share_alpha_19"] < t["share_alpha_dagger_18"]).mean()), fmt="{:.2f}")
    rec(f"M_rho_tilde_{name}", t["M_rho_tilde"].tolist(), glue=False)
fig.tight_layout()
plotting.save(fig, "etmann2019_fig6_fig9")
plt.show()
