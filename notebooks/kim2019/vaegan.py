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
# # Kim et al. 2019, appendix A.3 — the VAE-GAN, the image-manifold proxy of Figs 1 and 2
#
# Kim et al. {cite}`kim2019` project images onto an approximate image manifold with a VAE-GAN
# {cite}`larsen2016`: π(x) = Dec(Enc(x)), and d_π(x) = ‖x − π(x)‖₂ says how far x is from it. Everything Fig 1
# concludes rests on that proxy, so this page shows what it does: reconstructions of test images (top: original,
# bottom: π(x)), samples Dec(z) with z ~ N(0, I), and d_π of clean test images against the same images with
# uniform noise added (an input off the manifold should be far from it).
#
# **Cuts at the default profile**: the appendix architecture at half its widths (batch 32), 4 000 training images and
# 10 epochs per dataset (paper: full width, 60 000 images, 30 epochs on MNIST and 60 on Fashion-MNIST).
# Reconstructions are deterministic, Dec(μ(x)); the authors' code decoded a sample Dec(μ + σ·ε).

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import numpy as np
import torch
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from rilib import plotting, profiles, results, zoo
from rilib.papers.kim2019 import cohort, manifold

plotting.setup()
P = profiles.get(profile).kim_models
rec = results.Recorder("kim2019/vaegan", profile=profile)
plotting.page_header(profile, ["kim_vaegan"])
TITLE = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

# %% tags=["hide-input"]
zoo.prefetch([manifold.vaegan_spec(ds, profile) for ds in P.datasets])
vae = {ds: zoo.get(manifold.vaegan_spec(ds, profile), device="cpu") for ds in P.datasets}
rows = []
for ds in P.datasets:
    x = zoo.load_data(cohort.spec(cohort.KimModel(ds), profile)).x_test[:500]
    noisy = (x + torch.empty_like(x).uniform_(-0.3, 0.3, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    d_clean = manifold.manifold_distance(vae[ds].model, x).numpy()
    d_noisy = manifold.manifold_distance(vae[ds].model, noisy).numpy()
    rows.append({"dataset": TITLE[ds], "median d_π, test images": float(np.median(d_clean)),
                 "median d_π, + uniform noise ±0.3": float(np.median(d_noisy)),
                 "share of noisy images farther than their clean image": float(np.mean(d_noisy > d_clean)),
                 "train s": vae[ds].meta["train_seconds"]})
    rec(f"noise_farther_{ds.replace('-', '')}", float(np.mean(d_noisy > d_clean)), fmt="{:.3f}")
display(pd.DataFrame(rows).round(3))

# %% tags=["hide-input"]
for ds in P.datasets:
    x = zoo.load_data(cohort.spec(cohort.KimModel(ds), profile)).x_test[:10]
    rec_x = manifold.reconstruct(vae[ds].model, x)
    samples = manifold.sample(vae[ds].model, 10, generator=torch.Generator().manual_seed(0))
    fig, axes = plt.subplots(3, 10, figsize=(12, 3.9))
    for j in range(10):
        plotting.show_image(axes[0, j], x[j, 0].numpy(), "test image" if j == 0 else None)
        plotting.show_image(axes[1, j], rec_x[j, 0].numpy(), "π(x)" if j == 0 else None)
        plotting.show_image(axes[2, j], samples[j, 0].numpy(), "sample" if j == 0 else None)
    fig.suptitle(f"VAE-GAN on {TITLE[ds]}: reconstructions and samples", y=1.0)
    fig.tight_layout()
    plotting.save(fig, f"kim2019_vaegan_{ds}")
    plt.show()

# %% tags=["remove-input"]
rec.show_claims()
