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
# # Etmann et al. 2019, Figs 1 and 10 — saliency maps of the least and the most robust model
#
# Fig 1: an image, the saliency map ∇Ψ^{i*}(x) of a highly non-robust network and that of a more robust one: "the
# robust network gives a much clearer indication of what the classifier deems to be discriminative features".
# Fig 10: for selected validation images, the saliency map g, the binarized saliency map g† (Sec 2.2.2) and γ, the
# saliency map at the shifted point ξ of Theorem 3, with their alignments |⟨x, ḡ⟩|, |⟨x, ḡ†⟩| and |⟨ξ, γ̄⟩|, for the
# most robust and the least robust model {cite}`etmann2019`. Gradients are scaled per image to the full colour
# range (as in the paper: "individually scaled to fit the colour range").

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import pandas as pd
import matplotlib.pyplot as plt
from IPython.display import display

from rilib.papers import etmann2019 as etmann
from rilib import geometry, plotting, results

plotting.setup()
rec = results.Recorder("etmann2019/fig1_fig10_saliency", profile=profile)
plotting.page_header(profile, "etmann_complex", substitute=etmann.substitute_sentence(profile))
N_SHOW = 4
show = plotting.show_image

# %% tags=["hide-input"]
# Train (first run only) and measure every model of both cohorts, one worker process per CPU core; results are
# cached in the zoo and shared by every page of this chapter.
etmann.prepare(profile)
picked, stats = {}, {}
for name in ("complex", "mnist"):
    models, meas = etmann.measured_cohort(name, profile)
    _, x, _ = etmann.eval_data(name, profile)
    table = etmann.summarize(models, meas)
    st = etmann.saliency_statistics(models, meas)  # least / most robust non-degenerate model (by M[ρ̃])
    least, most = st["least"], st["most"]
    xs = x[:N_SHOW]
    geos = {k: geometry.geometry(models[i].model, xs.to(next(models[i].model.parameters()).device), theorem3=True)
            for k, i in (("least", least), ("most", most))}
    picked[name] = (xs, geos, models[least], models[most])
    stats[name] = st
    for k in ("alpha_larger", "alpha_dagger_larger", "xi_larger"):
        rec(f"{k}_{name}", st[k], fmt="{:.2f}")
    for k, i in (("least", least), ("most", most)):
        rec(f"M_alpha_{k}_{name}", float(table.loc[i, "M_alpha"]), fmt="{:.3f}")
        rec(f"M_rho_tilde_{k}_{name}", float(table.loc[i, "M_rho_tilde"]), fmt="{:.3f}")
display(pd.DataFrame({name: {k: str(v) for k, v in st.items()} for name, st in stats.items()}))

# %% [markdown]
# ## Figure 1
# Claim (fig1-saliency): on all evaluation points, not only the four shown, the share of images on which the most
# robust model has the larger alignment α, with its bootstrap interval (table above).

# %% tags=["hide-input"]
fig, axes = plt.subplots(2 * N_SHOW // 2, 6, figsize=(12, 2.2 * N_SHOW))
for c0, name in ((0, "complex"), (3, "mnist")):
    xs, geos, lo, hi = picked[name]
    for r in range(N_SHOW):
        show(axes[r, c0], xs[r], "image" if r == 0 else None)
        show(axes[r, c0 + 1], geos["least"].g[r], f"least robust (λ={lo.lam_paper:.3g})" if r == 0 else None,
             signed=True)
        show(axes[r, c0 + 2], geos["most"].g[r], f"most robust (λ={hi.lam_paper:.3g})" if r == 0 else None,
             signed=True)
fig.suptitle("Fig 1 — saliency maps ∇Ψ^{i*}(x); left: " + ("ImageNet" if profile == "paper" else
             "Fashion-MNIST (ImageNet substitute)") + ", right: MNIST", fontsize=10)
fig.tight_layout()
plotting.save(fig, "etmann2019_fig1")
plt.show()

# %% [markdown]
# ## Figure 10
# Odd rows: most robust model; even rows: least robust model (as in the paper). Claim (fig10-examples): on all
# evaluation points of the complex cohort, the shares of images on which the most robust model has the larger α,
# α† and |⟨ξ, γ̄⟩| (table above).

# %% tags=["hide-input"]
for name in ("complex", "mnist"):
    xs, geos, lo, hi = picked[name]
    fig, axes = plt.subplots(2 * N_SHOW, 4, figsize=(7.5, 2.0 * 2 * N_SHOW))
    for r in range(N_SHOW):
        for k, (key, cm) in enumerate((("most", hi), ("least", lo))):
            g = geos[key]
            row = axes[2 * r + k]
            show(row[0], xs[r], f"x ({key} robust)")
            show(row[1], g.g[r], f"g: |⟨x,ḡ⟩| = {float(g.alpha[r]):.2f}", signed=True)
            show(row[2], g.g_dagger[r], f"g†: |⟨x,ḡ†⟩| = {float(g.alpha_dagger[r]):.2f}", signed=True)
            show(row[3], g.gamma[r], f"γ: |⟨ξ,γ̄⟩| = {float(g.xi_alignment[r]):.2f}", signed=True)
    fig.suptitle(f"Fig 10 — {name} cohort", fontsize=10)
    fig.tight_layout()
    plotting.save(fig, f"etmann2019_fig10_{name}")
    plt.show()

# %% tags=["remove-input"]
rec.show_claims()
