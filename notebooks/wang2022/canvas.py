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
# # The boxed canvas — the stand-in for ImageNette with bounding boxes
#
# Wang et al.'s localisation study (part 2 of this chapter) needs images with a ground-truth box around the object.
# ImageNette and its boxes are not on this machine, so the book generates them: a Fashion-MNIST garment, resized by
# a random factor, pasted at a random place on a larger grey canvas, among clutter (7 × 7 fragments of other
# garments at a random intensity, and pixel noise), with its tight pixel box recorded from the garment's own mask.
# Half of the canvases are inverted — a dark garment on a bright background —, so that neither a black nor a white
# IG baseline is neutral for every image (Fig 7). A two-object variant (two garments of different classes, boxes
# not overlapping) serves Figs 12 and 18. The generator (`rilib.data.canvas.make_canvas`) is deterministic per
# seed; its parameters are the profile table's `wang_canvas` section.
#
# The models train on `rilib.data.load("canvas")`: 10 000 canvases made from Fashion-MNIST's training garments;
# the evaluation canvases come from its test garments. The samples below are drawn the same way (test garments);
# the localisation pages that use them: Tables 2, 3, 8, the GT-Loc curves, the galleries, and Figs 7, 12, 18.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

from rilib import data, plotting, profiles, results
from rilib.data.canvas import make_canvas

plotting.setup()
C = profiles.get(profile).wang_canvas
rec = results.Recorder("wang2022/canvas", profile=profile)
plotting.page_header(profile, "wang_canvas", substitute=(
    "Paper: ImageNette (10 ImageNet classes) with bounding boxes. Here: Fashion-MNIST garments on a generated, "
    "cluttered 56 × 56 canvas, box from the garment's own pixels."))
src = data.load(C.source)
one = make_canvas(src.x_test, src.y_test, n=int(C.n_show), size=int(C.size), scale=tuple(C.scale),
                  invert_share=float(C.invert_share), clutter=int(C.clutter), noise=float(C.noise), seed=int(C.seed))
two = make_canvas(src.x_test, src.y_test, n=int(C.n_show), size=int(C.two_object_size),
                  scale=tuple(C.two_object_scale), objects=2, invert_share=float(C.invert_share),
                  clutter=int(C.clutter), noise=float(C.noise), seed=int(C.seed) + 1)

# %% tags=["hide-input"]
for name, r in (("one object", one), ("two objects", two)):
    n = len(r["x"])
    fig, axes = plt.subplots(2, (n + 1) // 2, figsize=(1.3 * ((n + 1) // 2), 3.0))
    for ax, i in zip(axes.flat, range(n)):
        ax.imshow(r["x"][i, 0], cmap="gray", vmin=0, vmax=1)
        for k, (t, l, b, rr) in enumerate(r["boxes"][i].tolist()):
            ax.add_patch(Rectangle((l - 0.5, t - 0.5), rr - l, b - t, fill=False, lw=1.2,
                                   edgecolor="tab:red" if k == 0 else "tab:cyan"))
        ax.set_title(" / ".join(src.classes[int(c)] if src.classes else str(int(c)) for c in r["labels"][i]),
                     fontsize=6)
        ax.set_axis_off()
    fig.suptitle(f"{name}: box of the first object red" + (", of the second cyan" if name == "two objects" else ""),
                 fontsize=9)
    fig.tight_layout()
    plotting.save(fig, f"wang2022_canvas_{name.replace(' ', '_')}")
    plt.show()

# %% tags=["hide-input"]
area = ((one["boxes"][:, 0, 2] - one["boxes"][:, 0, 0]) * (one["boxes"][:, 0, 3] - one["boxes"][:, 0, 1])).float()
share = area / float(C.size) ** 2
print(f"box area: {float(share.min()):.0%} – {float(share.max()):.0%} of the canvas (the paper keeps boxes under 80 %); "
      f"inverted: {int(one['inverted'].sum())} of {len(share)}")
_ = rec("canvas_box_share_max", float(share.max()), fmt="{:.2f}")

# %% tags=["remove-input"]
rec.show_claims()
