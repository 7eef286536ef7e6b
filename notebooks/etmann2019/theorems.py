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
# # Etmann et al. 2019 — Theorem 1, Lemma 2, Theorems 2 and 3 on the trained cohorts
#
# The unit tests check these statements on random networks in float64 (`tests/test_geometry.py`). This page checks
# them on every trained model of both cohorts, at every evaluation point {cite}`etmann2019`:
#
# - **Theorem 1** (homogeneous decomposition): Ψ^i(x) = ⟨x, ∇ₓΨ^i(x)⟩ + ⟨b, ∇_bΨ^i(x)⟩, the bias term computed
#   directly from the parameters (every bias and every batch-norm running mean) — the residual must vanish;
# - **Lemma 2**: for a positively one-homogeneous network ρ̃ = α†. The trained models have biases, so we check it on
#   each model with every bias and running mean set to zero (which makes it homogeneous);
# - **Theorems 2 and 3**: ρ̃ ≤ α† + |β†|/‖g†‖ ≤ α + ‖x‖‖ḡ† − ḡ‖ + |β†|/‖g†‖ and ρ̃ ≤ |⟨ξ, γ̄⟩| + ‖ξ‖‖ḡ† − γ̄‖ —
#   the maximal violation over all points must be ≤ 0 (up to float32 round-off).

# %% tags=["parameters"]
profile = "default"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from rilib import etmann, plotting, results

plotting.setup()
rec = results.Recorder("etmann2019/theorems", profile=profile)
plotting.page_header(profile, "etmann_mnist", substitute=etmann.substitute_sentence(profile))

# %%
etmann.prepare(profile, "theorems")  # float64 geometry of every model, in parallel workers (cached)
rows, slack = [], {"mnist": {}, "complex": {}}
for name in ("mnist", "complex"):
    _, x, _ = etmann.eval_data(name, profile)
    for cm in etmann.cohort(name, profile):
        chk = etmann.theorem_checks(cm, x, name=name)
        for key in ("14", "15", "16"):
            slack[name].setdefault(f"({key})", []).append(chk[f"slack{key}"])
        rows.append({"cohort": name, "lam_paper": cm.lam_paper,
                     "Thm 1: max rel. residual": float(chk["thm1_residual"].max()),
                     "Lemma 2 (bias-free copy): max |ρ̃−α†|/ρ̃": float(chk["lemma2_rel_err"].max()),
                     "Thm 2 (14): max ρ̃ − rhs": float(chk["viol14"].max()),
                     "Thm 2 (15): max ρ̃ − rhs": float(chk["viol15"].max()),
                     "Thm 3 (16): max ρ̃ − rhs": float(chk["viol16"].max()),
                     "F(ξ) = F(x)": float(chk["same_pred_xi"].mean())})
table = pd.DataFrame(rows)
display(table)

# %% [markdown]
# How loose are the bounds? Relative slack (right-hand side − ρ̃)/ρ̃ over all points of all models of a cohort
# (0 = tight; the inequalities hold where it is ≥ 0).

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for ax, name in zip(axes, ("mnist", "complex")):
    for key, parts in slack[name].items():
        v = np.concatenate(parts)
        ax.hist(np.log10(np.clip(v, 1e-6, None)), bins=60, histtype="step", label=f"ineq. {key}")
    ax.set_xlabel("log10 relative slack (clipped at 1e-6)")
    ax.set_title(etmann.cohort_title(name, profile))
    ax.legend(fontsize=8)
axes[0].set_ylabel("points")
fig.tight_layout()
plotting.save(fig, "etmann2019_theorems_slack")
plt.show()

# %%
rec("thm1_max_residual", float(table["Thm 1: max rel. residual"].max()), fmt="{:.1e}")
rec("lemma2_max_rel_err", float(table["Lemma 2 (bias-free copy): max |ρ̃−α†|/ρ̃"].max()), fmt="{:.1e}")
rec("thm2_14_max_violation", float(table["Thm 2 (14): max ρ̃ − rhs"].max()), fmt="{:.1e}")
rec("thm2_15_max_violation", float(table["Thm 2 (15): max ρ̃ − rhs"].max()), fmt="{:.1e}")
rec("thm3_16_max_violation", float(table["Thm 3 (16): max ρ̃ − rhs"].max()), fmt="{:.1e}")
rec("share_f_xi_equals_f_x", float(table["F(ξ) = F(x)"].mean()), fmt="{:.3f}")
display({k: v for k, v in rec.values.items()})
