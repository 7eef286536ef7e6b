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
# # Wang et al. 2022, Fig 15 — BIG under cascading model randomisation
#
# The sanity check of Adebayo et al. {cite}`adebayo2018` (App. B.7): randomise the trained model's parameters
# from the top layer down, cumulatively, and compare each attribution map with the intact model's by Spearman rank
# correlation of |BIG|. A method that explains the model, not the image, loses its correlation as the model loses
# its weights.
#
# **Our reading.** Each parameter tensor (walked from the last to the first) is replaced by Gaussian noise rescaled
# to the tensor's own norm, seeded. The paper does not say whether the boundary is searched again for each
# randomised model; a boundary point of the intact model means nothing for a randomised one, so the book searches
# again at every stage (PGD ladder + bisection onto the boundary, without CW and AutoPGD to keep the cost down) and
# computes BIG for the class the randomised model predicts.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from rilib import plotting, profiles, results
from rilib.papers.wang2022 import claims, jobs

plotting.setup()
W = profiles.get(profile).wang
rec = results.Recorder("wang2022/fig15_randomisation", profile=profile)
plotting.page_header(profile, "wang", substitute=(
    "Paper: a ResNet-50 on ImageNet. Here: Kim et al.'s standard Fashion-MNIST CNN (the Kim chapter's model) and its "
    "first correctly classified test images."))
jobs.prepare(profile)
r = jobs.randomisation(profile)
names = [str(s) for s in r["stage_names"]]

# %% tags=["hide-input"]
med = np.median(r["spearman"], axis=1)
q1, q3 = np.percentile(r["spearman"], [25, 75], axis=1)
fig, ax = plt.subplots(figsize=(7, 3.4))
xs = np.arange(len(names))
ax.fill_between(xs, q1, q3, alpha=0.3, label="quartiles over images")
ax.plot(xs, med, "o-", label="median")
ax.axhline(0, color="k", lw=0.6)
ax.set_xticks(xs, names, rotation=60, ha="right", fontsize=7)
ax.set_ylabel("Spearman(|BIG| intact, |BIG| randomised)")
ax.set_xlabel("randomised down to (cumulative, top first)")
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()
plotting.save(fig, "wang2022_fig15")
plt.show()
display(pd.DataFrame({"randomised down to": names, "median Spearman": np.round(med, 3),
                      "predictions unchanged": np.round(r["accuracy"], 3)}))

# %% tags=["hide-input"]
st = claims.randomisation_stats(r["spearman"])
rec("rand_last_median", st["last"], fmt="{:.3f}")
_ = rec("rand_drop", st["drop"], fmt="{:.3f}")

# %% tags=["remove-input"]
rec.show_claims()
