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
# # Noack et al. 2021, Table 1 — does interpretation regularisation make an MNIST net robust?
#
# Noack et al. {cite}`noack2021` train the MNIST net (conv 32 – pool – conv 64 – pool – dense 1 024 – dropout – 10)
# six ways and attack each with L2 PGD (ε = 1.5, random start): standard training; PGD adversarial training;
# Jacobian regularisation, cross-entropy + λ_J‖J(x)‖_F (eq. 7); and *interpretation regularisation* (IR, eq. 3),
# cross-entropy + λ‖|∇ₓ z_y(x)| − T(x)‖₂, pulling the input gradient of the true-class logit towards a target map
# T(x): thresholded SmoothGrad (eq. 4, σ = 0.15, values below mean + 1·std of the map set to 0) of the adversarially
# trained net (IR-R, λ = 0.07), the same targets with their values permuted within each map (IR-R-Perm, λ = 0.05),
# or of the standard net (IR-NR, λ = 0.33). The claim: interpretable targets buy robustness (IR-R), their quality
# matters (IR-R > IR-R-Perm, IR-NR ≈ standard).
#
# **Reading of eq. (3).** It subtracts a signed gradient J_c from an absolute-valued target; the book compares
# |∇ₓ z_y| with T(x), as the authors' code does: the targets are magnitudes (eq. 4), and a signed gradient could
# never match a non-negative target where the gradient is negative.
#
# **λ_J** is not given; the paper's rule is to tune it until the final training loss is close to the IR net's. Here:
# the grid value (seed 0) whose mean loss over the last epoch is nearest the seed-0 IR-R net's, shown below. The
# grid is searched by bisection (`build.bisect_nearest`): the regularised loss does not fall as λ grows (the minimum
# of CE + λ·R over the weights does not, for R ≥ 0), so a grid value beyond one whose loss already lies on the far
# side of the reference is farther from it and need not be trained — 2 of the 3 values here, 3 of 5 at the paper
# profile; the table marks the one not trained.
#
# **Cuts at the default profile** (named in the profile table; the paper profile restores each): the real 5 000-image
# MNIST subset (4 000 / 1 000) instead of 60 000 / 10 000; 3 epochs at lr 0.05 (the paper gives no epoch count, its
# lr is 0.01: at 0.01 the standard net reached 96.0 % after 4 epochs, at 0.05 97.4 % after 3); PGD-5 adversarial
# training instead of PGD-40; the Jacobian's Frobenius norm estimated from one random projection per image (Hoffman
# et al. 2019) instead of the exact ten backward passes; SmoothGrad targets from 10 noisy copies instead of 50; a
# λ_J grid of three values (two of them trained, above); PGD-20 evaluation (never fewer: gradient-regularised nets
# can mask gradients) on the first 200 test images instead of PGD-40 on all (500, then 300, until 2026-12-06; cut
# for the chapter's time budget: a seed's accuracy then has a binomial sd of at most ±3.5 points, beside the seed
# spread of ±3–11 points that the interval over seeds carries); 3 seeds instead of 5. PGD attacks only the correctly
# classified points: a misclassified one counts as not robust (robust accuracy ≤ clean accuracy).

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
P = profiles.get(profile).noack
rec = results.Recorder("noack2021/table1_mnist", profile=profile)
plotting.page_header(profile, "noack")
PAPER = {"std": (99.38, 61.05), "adv": (99.29, 90.21), "jacobian": (99.13, 82.86), "ir-r": (99.15, 85.17),
         "ir-r-perm": (99.12, 80.83), "ir-nr": (99.13, 60.96)}

# %% [markdown]
# ## The models (trained once and cached) and the choice of λ_J

# %% tags=["hide-input"]
t1 = build.table1_models(profile)
print(f"λ_J = {t1['lam_j']:g}: the grid value whose final training loss is nearest the seed-0 IR-R net's "
      f"({t1['reference_loss']:.4f})")
display(pd.DataFrame(t1["calibration"]["lam_j"]).round(4))
_ = rec("lam_j_mnist", t1["lam_j"], fmt="{:g}")

# %% [markdown]
# ## Table 1 — clean and PGD accuracy (%), mean ± 95 % t-interval over seeds

# %% tags=["hide-input"]
evals = {r: [jobs.robustness(s, t1["eps"], profile) for s in specs] for r, specs in t1["specs"].items()}
acc = {r: {"clean": build.seed_values(e, "clean"), "adv": build.seed_values(e, "adv")} for r, e in evals.items()}
display(pd.DataFrame(claims.accuracy_table(acc, PAPER, cohort.LABELS)))
pairs = [("adv", "ir-r"), ("ir-r", "jacobian"), ("jacobian", "ir-r-perm"), ("ir-r-perm", "std"), ("ir-nr", "std"),
         ("jacobian", "std"), ("ir-r", "std"), ("adv", "std"), ("ir-r", "ir-r-perm")]
for k, v in claims.order_statistics(acc, "mnist", pairs).items():
    rec(k, v, fmt="{:.4f}")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7.5, 3.4))
names = list(acc)
for i, r in enumerate(names):
    ours = 100 * np.asarray(acc[r]["adv"])
    ax.scatter(np.full(len(ours), i), ours, color="#4C72B0", s=18, label="ours (one dot per seed)" if i == 0 else None)
    ax.scatter([i], [PAPER[r][1]], marker="_", s=400, color="#C44E52", label="paper (mean)" if i == 0 else None)
ax.set_xticks(range(len(names)), [cohort.LABELS[r] for r in names], rotation=20, ha="right")
ax.set_ylabel(f"PGD accuracy (%), L2 ε = {t1['eps']:g}")
ax.set_title("Noack et al. 2021, Table 1 (MNIST)")
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()
plotting.save(fig, "noack2021_table1")
plt.show()

# %% [markdown]
# ## Is the robustness real? The gradient-masking check
# Gradient-regularised nets can mask gradients: PGD then fails although adversarial examples exist. For the seed-0
# net of every regime: PGD accuracy over a grid of ε must fall monotonically and reach about 0 at a large ε, and
# Foolbox's FMN (a minimal-norm attack) on a subset must not find many more adversarial examples inside ε than PGD.
# Thresholds fixed before any run: rises of at most 1 point, at most 5 % left at the largest ε, and a PGD − FMN
# accuracy gap of at most 5 points.

# %% tags=["hide-input"]
rows, checks = build.masking_table(t1["specs"], t1["eps"], profile)
curves = {r: c["arrays"] for r, c in checks.items()}
for r, c in checks.items():
    rec(f"masking_passed_mnist_{claims.key(r)}", int(c["verdict"]["passed"]))
display(pd.DataFrame(rows))
fig, ax = plt.subplots(figsize=(6, 3.4))
for r, m in curves.items():
    ax.plot(m["eps_grid"], 100 * m["pgd_acc"], marker="o", label=cohort.LABELS[r])
ax.axvline(t1["eps"], color="0.6", lw=0.8, ls="--")
ax.set_xlabel("L2 ε ([0, 1] pixels)")
ax.set_ylabel("PGD accuracy (%)")
ax.legend(frameon=False, fontsize=7)
ax.set_title("PGD accuracy against ε, seed-0 nets (MNIST)")
fig.tight_layout()
plotting.save(fig, "noack2021_masking_mnist")
plt.show()

# %% tags=["remove-input"]
rec.show_claims()
