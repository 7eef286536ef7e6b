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
# # Noack et al. 2021, Figs 1 and 2 — the target interpretations
#
# **Fig 1** {cite}`noack2021`: SmoothGrad maps (eq. 4: the mean of |∇ₓ z_y| over noisy copies, σ = 0.15) of an
# adversarially trained and a standard net, raw and thresholded at mean + 1·std of each map (φ = 1): the robust
# net's maps capture the object, the standard net's look less appropriate, and thresholding keeps the important
# parts. The paper shows MNIST and CIFAR-10; the book MNIST and Fashion-MNIST (the CIFAR-10 substitute of Table 2).
#
# **Fig 2**: on an MNIST "8", the thresholded SmoothGrad map gives less weight than the thresholded plain gradient
# to a non-robust feature (an extra stroke). The paper does not say which net; the book uses the adversarially
# trained one (the teacher of IR-R).
#
# **Measure** (a proxy for "captures the object"): the share of a thresholded map's mass on the digit's strokes
# (pixels > 0.5), per MNIST training image — robust vs standard teacher (Fig 1; all training images, the cached
# targets), thresholded SmoothGrad vs thresholded gradient of the robust net (Fig 2; the first 500).

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import torch

from rilib import attribution, plotting, profiles, results, zoo
from rilib.papers.noack2021 import build, claims, targets

plotting.setup()
P = profiles.get(profile).noack
rec = results.Recorder("noack2021/fig1_fig2_smoothgrad", profile=profile)
plotting.page_header(profile, ["noack", "noack_sub"])
TITLE = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST (for CIFAR-10)"}
N_SHOW = 6

# %% [markdown]
# ## Figure 1

# %% tags=["hide-input"]
teach = {ds: build.teachers(ds, profile) for ds in P.datasets}
for ds, t in teach.items():
    data = zoo.load_data(t["std"])
    x, y = data.x_test[:N_SHOW], data.y_test[:N_SHOW]
    fig, axes = plt.subplots(5, N_SHOW, figsize=(1.9 * N_SHOW, 9.6), squeeze=False)
    for j in range(N_SHOW):
        plotting.show_image(axes[0, j], x[j], "image" if j == 0 else None)
    for i, (name, title) in enumerate([("adv", "adversarially trained"), ("std", "standard")]):
        net = zoo.get(t[name], device="cpu", progress=False).model.eval()
        raw = targets.smoothgrad_maps(net, x, y, profile)
        thr = targets.threshold(raw, P.phi)
        for j in range(N_SHOW):
            plotting.show_image(axes[1 + 2 * i, j], raw[j], f"{title}: SmoothGrad" if j == 0 else None)
            plotting.show_image(axes[2 + 2 * i, j], thr[j], "thresholded (φ = 1)" if j == 0 else None)
    fig.suptitle(f"Noack et al. 2021, Fig 1 ({TITLE[ds]})", y=1.0)
    fig.tight_layout()
    plotting.save(fig, f"noack2021_fig1_{ds.replace('-', '')}")
    plt.show()

# %% tags=["hide-input"]
t = teach["mnist"]
x_train = zoo.load_data(t["std"]).x_train
T = {k: targets.ir_targets("mnist", k, profile, teacher_eps=t["eps"] if k == "adv" else None)["targets"]
     for k in ("adv", "std")}
share = {k: claims.foreground_share(v, x_train.numpy()) for k, v in T.items()}
s1 = claims.share_statistics(share["adv"], share["std"])
print(f"share of the thresholded target's mass on the strokes (MNIST, {len(x_train)} training images): robust "
      f"teacher {np.nanmean(share['adv']):.3f}, standard teacher {np.nanmean(share['std']):.3f}; "
      f"difference {s1['diff']}, robust ≥ standard on {s1['frac']} of the images")
_ = rec("fig1_share_diff_adv_std", s1["diff"], fmt="{:.3f}")
_ = rec("fig1_share_frac_adv_ge_std", s1["frac"], fmt="{:.3f}")

# %% [markdown]
# ## Figure 2

# %% tags=["hide-input"]
net = zoo.get(t["adv"], device="cpu", progress=False).model.eval()
n2 = min(500, len(x_train))
data = zoo.load_data(t["adv"])
xs, ys = data.x_train[:n2], data.y_train[:n2]
grad = targets.threshold(attribution.attribute(net, xs, method="saliency", target=ys, abs=True, channel_sum=False),
                         P.phi).numpy()
sg = T["adv"][:n2]
s2 = claims.share_statistics(claims.foreground_share(sg, xs.numpy()), claims.foreground_share(grad, xs.numpy()))
print(f"robust net, first {n2} training images: thresholded SmoothGrad − thresholded gradient share {s2['diff']}; "
      f"SmoothGrad ≥ gradient on {s2['frac']} of the images")
_ = rec("fig2_share_diff_sg_grad", s2["diff"], fmt="{:.3f}")
_ = rec("fig2_share_frac_sg_ge_grad", s2["frac"], fmt="{:.3f}")
eight = int(torch.nonzero(ys == 8)[0])
raw_sg = targets.smoothgrad_maps(net, xs[eight:eight + 1], ys[eight:eight + 1], profile)
raw_g = attribution.attribute(net, xs[eight:eight + 1], method="saliency", target=ys[eight:eight + 1], abs=True,
                              channel_sum=False)
fig, axes = plt.subplots(1, 5, figsize=(10.5, 2.4))
for ax, img, title in zip(axes, [xs[eight], raw_sg[0], targets.threshold(raw_sg, P.phi)[0], raw_g[0],
                                 targets.threshold(raw_g, P.phi)[0]],
                          ["image", "SmoothGrad", "thresholded", "|gradient|", "thresholded"]):
    plotting.show_image(ax, img, title)
fig.suptitle("Noack et al. 2021, Fig 2: an MNIST eight, robust net", y=1.02)
fig.tight_layout()
plotting.save(fig, "noack2021_fig2")
plt.show()

# %% tags=["remove-input"]
rec.show_claims()
