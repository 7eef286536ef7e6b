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
# # Etmann et al. 2019, Figs 4 and 5 — pointwise ρ̃ against α and against the CW distance
#
# Fig 4: for one model of each cohort, the linearized robustness ρ̃(x) against the alignment α(x) of every
# evaluation point — "well-correlated on MNIST, … no visible correlation in the case of ImageNet" (claim c5).
# Fig 5: ρ̃(x) against the robustness ρ(x) found by the Carlini–Wagner attack — "a tight correlation … in both
# cases" (claim c4) {cite}`etmann2019`. The paper does not say which model of the cohort it shows; we show the
# model with the median λ among the non-degenerate models of each cohort and list the correlations of all models.

# %% tags=["parameters"]
profile = "default"

# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from scipy import stats

from rilib.papers import etmann2019 as etmann
from rilib import geometry, plotting, results

plotting.setup()
rec = results.Recorder("etmann2019/fig4_fig5_pointwise", profile=profile)
plotting.page_header(profile, "etmann_attacks", substitute=etmann.substitute_sentence(profile))


def corr(fn, a, b):
    """Correlation over the points where both values are finite (failed CW attacks are +inf)."""
    ok = np.isfinite(a) & np.isfinite(b)
    return float(fn(a[ok], b[ok]).statistic) if ok.sum() > 2 else float("nan")

# %%
data, rows = {}, []
for name in ("mnist", "complex"):
    models, meas = etmann.measured_cohort(name, profile)
    for cm, m in zip(models, meas):
        rows.append({"cohort": name, "lam_paper": cm.lam_paper,
                     "pearson(ρ̃, α)": corr(stats.pearsonr, m["rho_tilde"], m["alpha"]),
                     "spearman(ρ̃, α)": corr(stats.spearmanr, m["rho_tilde"], m["alpha"]),
                     "pearson(ρ̃, ρ_CW)": corr(stats.pearsonr, m["rho_tilde"], m["dist_cw"]),
                     "spearman(ρ̃, ρ_CW)": corr(stats.spearmanr, m["rho_tilde"], m["dist_cw"]),
                     "CW failures": 1 - np.isfinite(m["dist_cw"]).mean()})
    shown = etmann.shown_index(etmann.summarize(models, meas))  # median-λ model among the non-degenerate ones
    data[name] = (models[shown], meas[shown], shown)
table = pd.DataFrame(rows)
display(table.round(3))

# %%
fig, axes = plt.subplots(2, 2, figsize=(11, 9))
for col, name, title in ((0, "complex", etmann.cohort_title("complex", profile)),
                         (1, "mnist", "MNIST")):
    cm, m, _ = data[name]
    ok = np.isfinite(m["dist_cw"])
    r_a, s_a = corr(stats.pearsonr, m["rho_tilde"], m["alpha"]), corr(stats.spearmanr, m["rho_tilde"], m["alpha"])
    r_c, s_c = corr(stats.pearsonr, m["rho_tilde"], m["dist_cw"]), corr(stats.spearmanr, m["rho_tilde"], m["dist_cw"])
    ax = axes[0, col]
    ax.scatter(m["rho_tilde"], m["alpha"], s=6, alpha=0.6)
    ax.set_xlabel("ρ̃(x)"); ax.set_ylabel("α(x)")
    ax.set_title(f"Fig 4 — {title}, λ = {cm.lam_paper:.3g}\nPearson {r_a:.2f}, Spearman {s_a:.2f}")
    ax = axes[1, col]
    ax.scatter(m["rho_tilde"][ok], m["dist_cw"][ok], s=6, alpha=0.6, c=plotting.PALETTE["strong"])
    lim = float(np.max(np.r_[m["rho_tilde"], m["dist_cw"][ok]])) * 1.05
    ax.plot([0, lim], [0, lim], "k--", lw=0.7)
    ax.set_xlabel("ρ̃(x)"); ax.set_ylabel("ρ_CW(x)")
    ax.set_title(f"Fig 5 — {title}\nPearson {r_c:.2f}, Spearman {s_c:.2f} ({(~ok).sum()} CW failures left out)")
    rec(f"pearson_alpha_{name}", float(r_a), fmt="{:.2f}")
    rec(f"spearman_alpha_{name}", float(s_a), fmt="{:.2f}")
    rec(f"pearson_cw_{name}", float(r_c), fmt="{:.2f}")
    rec(f"spearman_cw_{name}", float(s_c), fmt="{:.2f}")
    sub = table[table.cohort == name]
    rec(f"pearson_alpha_{name}_all", sub["pearson(ρ̃, α)"].tolist(), glue=False)
    rec(f"pearson_cw_{name}_all", sub["pearson(ρ̃, ρ_CW)"].tolist(), glue=False)
fig.tight_layout()
plotting.save(fig, "etmann2019_fig4_fig5")
plt.show()

# %% [markdown]
# ## How good is our CW?
# Foolbox's CW defaults (9 binary-search steps × 10 000 steps) take minutes per 16 images on this CPU, so the
# profile uses a shorter run. Here the shown model of each cohort is attacked again on the first points with several
# times more steps and binary-search steps; the ratio of the medians says how much the short run overestimates ρ.

# %%
etmann.prepare(profile, "cw_check", indices={name: [data[name][2]] for name in data})  # both in parallel (cached)
check_rows = []
for name in ("mnist", "complex"):
    cm, _, _ = data[name]
    _, x, _ = etmann.eval_data(name, profile)
    chk = etmann.cw_check(cm, x, profile=profile, name=name)
    ok = np.isfinite(chk["cw"]) & np.isfinite(chk["cw_long"])
    ratio = float(np.median(chk["cw"][ok]) / np.median(chk["cw_long"][ok])) if ok.any() else float("nan")
    check_rows.append({"cohort": name, "points": len(chk["cw"]), "median CW (profile)": float(np.median(chk["cw"])),
                       "median CW (long)": float(np.median(chk["cw_long"])), "ratio of medians (finite)": ratio,
                       "failures (profile)": int((~np.isfinite(chk["cw"])).sum()),
                       "failures (long)": int((~np.isfinite(chk["cw_long"])).sum())})
    rec(f"cw_short_over_long_{name}", ratio, fmt="{:.3f}")
display(pd.DataFrame(check_rows).round(4))

# %% [markdown]
# ## The binarized alignment α† (Sec 4.1)
# "The above observations also hold well for the binarized alignment": the same measures with α† in place of α —
# the Spearman correlation over each cohort between M[α†] and every robustness notion (as in claim c1), and the
# pointwise Pearson correlation of ρ̃ and α† for the shown model (as in claim c5).

# %%
rows_b = []
for name in ("mnist", "complex"):
    models, meas = etmann.measured_cohort(name, profile)
    t = etmann.summarize(models, meas)
    t = t[~t.degenerate]
    for notion in etmann.ROBUSTNESS_NOTIONS:
        col = "M_rho_tilde" if notion == "rho_tilde" else f"M_{notion}"
        rows_b.append({"cohort": name, "notion": notion,
                       "spearman(M[α†], M[ρ])": float(stats.spearmanr(t[col], t["M_alpha_dagger"]).statistic)
                       if len(t) > 2 else float("nan")})
    _, m, _ = data[name]
    rec(f"pearson_alpha_dagger_{name}", corr(stats.pearsonr, m["rho_tilde"], m["alpha_dagger"]), fmt="{:.2f}")
tb = pd.DataFrame(rows_b)
display(tb.round(3))
rec("binarized_spearman_min", float(tb["spearman(M[α†], M[ρ])"].min()), fmt="{:.2f}")

# %% [markdown]
# ## Is M[⟨x, ḡ⟩] ≈ 0 on the complex cohort? (Sec 4.1)
# The paper explains the growth of M[α] without pointwise correlation on ImageNet by M[⟨x, ḡ⟩] ≈ 0 there: then M[α]
# is the median absolute deviation of the signed alignment, and can grow as its spread widens. Per model we print
# |M[⟨x, ḡ⟩]| / M[|⟨x, ḡ⟩|] (0: the median of the signed alignment is zero). This depends on the input
# representation: the paper's ImageNet inputs are mean-subtracted, our Fashion-MNIST inputs lie in [0, 1].

# %%
rows_s = []
for name in ("complex", "mnist"):
    _, x, _ = etmann.eval_data(name, profile)
    for cm in etmann.cohort(name, profile):
        geo = geometry.geometry(cm.model, x.to(next(cm.model.parameters()).device))
        linear = (geo.logits - geo.beta).gather(1, geo.pred[:, None]).squeeze(1)  # ⟨x, g⟩ (Theorem 1)
        signed = (torch.sign(linear) * geo.alpha).cpu().numpy()  # ⟨x, ḡ⟩ = sign(⟨x, g⟩) · α
        rows_s.append({"cohort": name, "lam_paper": cm.lam_paper, "M[⟨x,ḡ⟩]": float(np.median(signed)),
                       "M[|⟨x,ḡ⟩|] = M[α]": float(np.median(np.abs(signed))),
                       "share negative": float(np.mean(signed < 0))})
ts = pd.DataFrame(rows_s)
ts["|M[⟨x,ḡ⟩]| / M[α]"] = ts["M[⟨x,ḡ⟩]"].abs() / ts["M[|⟨x,ḡ⟩|] = M[α]"]
display(ts.round(3))
for name in ("complex", "mnist"):
    rec(f"median_zero_ratio_{name}_max", float(ts[ts.cohort == name]["|M[⟨x,ḡ⟩]| / M[α]"].max()), fmt="{:.2f}")
