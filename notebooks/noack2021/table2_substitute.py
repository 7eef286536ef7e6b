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
# # Noack et al. 2021, Table 2 — the CIFAR-10 experiment on Fashion-MNIST
#
# Noack et al. {cite}`noack2021` repeat four regimes on CIFAR-10 with a larger CNN (λ = 0.025, ε = 0.314) and find
# IR with the adversarially trained net's targets "roughly on par" with Jacobian regularisation (51.43 vs 51.34 %),
# both well above standard training (14.93 %) and below adversarial training (57.43 %).
#
# **Substitute.** CIFAR-10 cannot be read offline; the book runs the experiment on Fashion-MNIST (4 000 / 1 000
# images, the MNIST net), which changes the data, the net and every number. Three settings the paper tunes for CIFAR
# are fixed here by rules stated before the run (profile `noack_sub`), not tuned until the numbers look like the
# paper's:
# 1. **ε**: the candidate in {0.5, 0.75, 1.0, 1.5} at which the seed-0 standard net's PGD accuracy is nearest 15 %
#    (the paper's standard CIFAR net keeps 14.93 %); adversarial training uses the same ε, as the paper's does;
# 2. **IR's λ**: the grid value whose final training loss is nearest the seed-0 adversarially trained net's;
# 3. **λ_J**: as on MNIST, the grid value whose final training loss is nearest the chosen IR net's.
#
# Both λ grids are searched by bisection, as on MNIST (Table 1's page says why that finds the same value as training
# the whole grid): 2 of their 3 values are trained, and the tables mark the one that was not.
#
# The paper profile runs the same substitute (the paper's CIFAR net and data would need the user's CIFAR-10 files
# and are not wired in this chapter yet).

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from rilib import plotting, profiles, results
from rilib.papers.noack2021 import build, claims, cohort, jobs

plotting.setup()
rec = results.Recorder("noack2021/table2_substitute", profile=profile)
plotting.page_header(profile, ["noack", "noack_sub"], substitute="Fashion-MNIST with the MNIST net instead of "
                     "CIFAR-10 with the CIFAR net; ε and λ fixed by the rules above")
PAPER = {"std": (78.29, 14.93), "adv": (74.51, 57.43), "jacobian": (74.21, 51.34), "ir": (74.66, 51.43)}

# %% [markdown]
# ## The three rules

# %% tags=["hide-input"]
t2 = build.table2_models(profile)
print(f"ε = {t2['eps']:g} (L2, [0, 1] pixels); IR λ = {t2['lam_ir']:g}; λ_J = {t2['lam_j']:g}")
for name, title in [("eps", "ε: the seed-0 standard net's PGD accuracy"),
                    ("lam_ir", f"IR λ: final training loss, reference the adversarially trained net's "
                               f"{t2['adv_loss']:.4f}"),
                    ("lam_j", f"λ_J: final training loss, reference the chosen IR net's {t2['ir_loss']:.4f}")]:
    print(title)
    display(pd.DataFrame(t2["calibration"][name]).round(4))
_ = rec("eps_sub", t2["eps"], fmt="{:g}")
_ = rec("lam_ir_sub", t2["lam_ir"], fmt="{:g}")
_ = rec("lam_j_sub", t2["lam_j"], fmt="{:g}")

# %% [markdown]
# ## Table 2 — clean and PGD accuracy (%), mean ± 95 % t-interval over seeds (paper: CIFAR-10)

# %% tags=["hide-input"]
evals = {r: [jobs.robustness(s, t2["eps"], profile) for s in specs] for r, specs in t2["specs"].items()}
acc = {r: {"clean": build.seed_values(e, "clean"), "adv": build.seed_values(e, "adv")} for r, e in evals.items()}
display(pd.DataFrame(claims.accuracy_table(acc, PAPER, cohort.LABELS)))
pairs = [("adv", "jacobian"), ("adv", "ir"), ("ir", "jacobian"), ("jacobian", "std"), ("ir", "std"), ("adv", "std")]
for k, v in claims.order_statistics(acc, "sub", pairs).items():
    rec(k, v, fmt="{:.4f}")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6, 3.2))
for i, r in enumerate(acc):
    ax.scatter(np.full(len(acc[r]["adv"]), i), 100 * np.asarray(acc[r]["adv"]), color="#4C72B0", s=18,
               label="ours, Fashion-MNIST (one dot per seed)" if i == 0 else None)
    ax.scatter([i], [PAPER[r][1]], marker="_", s=400, color="#C44E52", label="paper, CIFAR-10 (mean)" if i == 0 else None)
ax.set_xticks(range(len(acc)), [cohort.LABELS[r] for r in acc], rotation=15, ha="right")
ax.set_ylabel("PGD accuracy (%)")
ax.set_title(f"Noack et al. 2021, Table 2 (substitute; ours at L2 ε = {t2['eps']:g})")
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()
plotting.save(fig, "noack2021_table2")
plt.show()

# %% [markdown]
# ## The gradient-masking check (seed-0 nets)
# A net passes when its PGD accuracy never rises with ε, is at most 5 % at the largest ε, and FMN's minimal-norm
# perturbations leave at most 5 points less accuracy at the table's ε than PGD. Read a failure by its column: a net
# that fails only "≈ 0 at the largest ε" while FMN is weaker than PGD (PGD − FMN below 0) keeps some points even at a
# large ε; that is not the signature of masked gradients (PGD outdone by a minimal-norm attack, or accuracy rising
# with ε), which the other two columns test.

# %% tags=["hide-input"]
rows, checks = build.masking_table(t2["specs"], t2["eps"], profile)
for r, c in checks.items():
    rec(f"masking_passed_sub_{claims.key(r)}", int(c["verdict"]["passed"]))
display(pd.DataFrame(rows))

# %% tags=["remove-input"]
rec.show_claims()
