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
#   the maximal violation over all points must be ≤ 0 (up to float32 round-off);
# - **Lemma 1 / Sec 2.2.2** on random affine and linear classifiers, **Definition 2**'s Pearson identity, and the
#   **Sec 3.3** remark that α depends on the input representation while robustness does not.

# %% tags=["parameters"]
profile = "default"

# %%
import copy

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from rilib.papers import etmann2019 as etmann
from rilib import attacks, geometry, models, plotting, results

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

# %% [markdown]
# ## Lemma 1 and Sec 2.2.2: affine and linear classifiers (float64)
# For an affine multi-class classifier Ψ(x) = Wx + b the decision cell is convex, and the exact distance to its
# boundary, ρ, is the distance to the nearest half space {Ψ^j ≥ Ψ^{i*}} (computed here independently of the kernel by
# `geometry.affine_distance`). Lemma 1: ρ = ρ̃. Without bias (linear), also ρ = α†; for the binary linear
# classifier Ψ = (⟨x, z⟩, −⟨x, z⟩), α = α†. No attack may find a perturbation smaller than the exact ρ: we check that
# Foolbox's DDN never does, and how close it gets.

# %%
torch.manual_seed(0)
lemma1 = {}
for with_bias in (True, False):
    lin = torch.nn.Linear(50, 10, bias=with_bias).double().eval()
    xs = torch.randn(200, 50, dtype=torch.float64)
    geo = geometry.geometry(lin, xs)
    exact = geometry.affine_distance(lin.weight.detach(), lin.bias.detach() if with_bias else None, xs)
    lemma1[f"rho_tilde_{'affine' if with_bias else 'linear'}"] = float(((geo.rho_tilde - exact).abs() / exact).max())
    if not with_bias:
        lemma1["alpha_dagger_linear"] = float(((geo.alpha_dagger - exact).abs() / exact).max())
    ddn = attacks.attack(copy.deepcopy(lin).float(), xs.float(), method="ddn", bounds=(-100.0, 100.0), steps=200)
    lemma1[f"ddn_below_exact_{'affine' if with_bias else 'linear'}"] = float(((exact - ddn.l2.double()) / exact).max())
    lemma1[f"ddn_median_ratio_{'affine' if with_bias else 'linear'}"] = float((ddn.l2.double() / exact).median())
z = torch.randn(50, dtype=torch.float64)
binary = torch.nn.Linear(50, 2, bias=False).double()
with torch.no_grad():
    binary.weight.copy_(torch.stack([z, -z]))
geo_b = geometry.geometry(binary, torch.randn(200, 50, dtype=torch.float64))
lemma1["alpha_equals_alpha_dagger_binary"] = float(((geo_b.alpha - geo_b.alpha_dagger).abs() / geo_b.alpha).max())
display(pd.Series(lemma1, name="max relative error / ratio"))
rec("lemma1_max_rel_err", max(lemma1["rho_tilde_affine"], lemma1["rho_tilde_linear"],
                              lemma1["alpha_dagger_linear"], lemma1["alpha_equals_alpha_dagger_binary"]), fmt="{:.1e}")
rec("lemma1_attack_below_exact", max(lemma1["ddn_below_exact_affine"], lemma1["ddn_below_exact_linear"]), fmt="{:.1e}")
rec("lemma1_ddn_median_ratio", lemma1["ddn_median_ratio_affine"], fmt="{:.4f}")

# %% [markdown]
# ## Definition 2: alignment = |Pearson correlation| for centred, unit-norm images
# For each evaluation image of the first MNIST model (float64): x centred and scaled to ‖x‖ = 1, its saliency map
# g = ∇Ψ^{i*}(x) centred; then |⟨x, g⟩|/‖g‖ should equal |Pearson(x, g)|.

# %%
cm0 = etmann.cohort("mnist", profile)[0]
_, x_m, _ = etmann.eval_data("mnist", profile)
m64 = copy.deepcopy(cm0.model).double().eval()
xc = x_m.double().flatten(1)
xc = xc - xc.mean(1, keepdim=True)
xc = (xc / xc.norm(dim=1, keepdim=True)).view_as(x_m)
g = geometry.geometry(m64, xc, keep_vectors=True).g.flatten(1)
g = g - g.mean(1, keepdim=True)
alpha_c = (xc.flatten(1) * g).sum(1).abs() / g.norm(dim=1)
pearson = torch.tensor([abs(np.corrcoef(a.numpy(), b.numpy())[0, 1]) for a, b in zip(xc.flatten(1), g)])
rec("def2_pearson_max_err", float((alpha_c - pearson).abs().max()), fmt="{:.1e}")
print(f"max |α − |Pearson|| over {len(xc)} images: {rec.values['def2_pearson_max_err']:.1e}")

# %% [markdown]
# ## Sec 3.3: alignment depends on the representation, robustness does not
# Each MNIST model is re-expressed on shifted inputs x' = x − c (c = the training set's mean pixel value) by
# `models.Shifted`, which computes exactly the same classifier. M[ρ̃] must not change; M[α] does.

# %%
ds_m, x_m, _ = etmann.eval_data("mnist", profile)
c = float(ds_m.x_train.double().mean())
rows33 = []
for cm in etmann.cohort("mnist", profile):
    m64 = copy.deepcopy(cm.model).double().eval()
    before = geometry.geometry(m64, x_m.double())
    after = geometry.geometry(models.Shifted(m64, c), x_m.double() - c)
    rows33.append({"lam_paper": cm.lam_paper, "M[ρ̃] on x": float(before.rho_tilde.median()),
                   "M[ρ̃] on x − c": float(after.rho_tilde.median()),
                   "max |Δρ̃|/ρ̃": float(((after.rho_tilde - before.rho_tilde).abs() / before.rho_tilde).max()),
                   "M[α] on x": float(before.alpha.median()), "M[α] on x − c": float(after.alpha.median())})
t33 = pd.DataFrame(rows33)
t33["M[α] change"] = t33["M[α] on x − c"] / t33["M[α] on x"] - 1
display(t33.round(4))
rec("sec33_shift", c, fmt="{:.3f}")
rec("sec33_rho_tilde_max_rel_change", float(t33["max |Δρ̃|/ρ̃"].max()), fmt="{:.1e}")
rec("sec33_alpha_min_abs_change", float(t33["M[α] change"].abs().min()), fmt="{:.2f}")
rec("sec33_alpha_max_abs_change", float(t33["M[α] change"].abs().max()), fmt="{:.2f}")
