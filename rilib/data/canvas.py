"""The boxed canvas: a generated stand-in for ImageNette with bounding boxes (Wang et al. 2022, part 2).

Each canvas is a ``size`` × ``size`` grey image holding one object (or two, :func:`make_canvas` with
``objects=2``) — a Fashion-MNIST or MNIST digit/garment resized by a random factor and pasted at a random place —
among clutter, so that "the attribution lies inside the box" is not trivial:

* **polarity**: a share ``invert_share`` of the canvases are inverted — a dark object on a bright background —, the
  others bright on dark, so that neither a black nor a white baseline is neutral for every image (Fig 7's study);
* **clutter**: ``clutter`` fragments (random 7 × 7 crops of other objects, at a random intensity) anywhere on the
  canvas, under the object, and Gaussian pixel noise of standard deviation ``noise``;
* **box**: the object's tight pixel box ``(top, left, bottom, right)``, bottom/right exclusive, from the object's own
  mask (its resized pixels above ``mask_level``), never from the canvas.

Deterministic: the same arguments and ``seed`` give the same canvases (one ``numpy.random.default_rng(seed)`` draws
everything in a fixed order).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["make_canvas", "box_of", "load_canvas"]


def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The tight box ``(top, left, bottom, right)`` (bottom/right exclusive) of a 2-D boolean mask."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError("an empty mask has no box")
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


def _resize(obj: np.ndarray, side: int) -> np.ndarray:
    t = torch.from_numpy(obj.astype(np.float32))[None, None]
    return F.interpolate(t, size=(side, side), mode="bilinear", align_corners=False)[0, 0].clamp(0, 1).numpy()


def make_canvas(images: torch.Tensor, labels: torch.Tensor, *, n: int, size: int = 56,
                scale: tuple[float, float] = (0.8, 1.3), objects: int = 1, invert_share: float = 0.5,
                clutter: int = 6, clutter_level: tuple[float, float] = (0.3, 0.8), noise: float = 0.05,
                mask_level: float = 0.2, seed: int = 0, max_tries: int = 100) -> dict[str, torch.Tensor]:
    """``n`` canvases from the source ``images`` (N, 1, H, W) in [0, 1] with ``labels`` (N,).

    Returns ``{"x": (n, 1, size, size), "y": (n,) the (first) object's label, "boxes": (n, objects, 4),
    "labels": (n, objects), "inverted": (n,) bool, "source": (n, objects) the source images' indices}``. With two
    objects their boxes do not overlap and their labels differ; ``y`` is the first object's label (the caller decides
    which object a model's prediction goes with).
    """
    images = torch.as_tensor(images, dtype=torch.float32)
    labels = torch.as_tensor(labels)
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"make_canvas needs (N, 1, H, W) grey source images, got shape {tuple(images.shape)}")
    if not 0 < scale[0] <= scale[1]:
        raise ValueError(f"scale must be 0 < low <= high, got {scale}")
    side_max = int(round(images.shape[-1] * scale[1]))
    if objects not in (1, 2) or side_max * objects > size:
        raise ValueError(f"{objects} object(s) of up to {side_max} px do not fit side by side on a {size}-px canvas: "
                         f"lower scale or raise size")
    if objects == 2 and len(torch.unique(labels)) < 2:
        raise ValueError("two-object canvases need source images of at least two classes")
    src = images[:, 0].numpy()
    lab = labels.numpy()
    rng = np.random.default_rng(seed)
    x = np.empty((n, size, size), np.float32)
    boxes = np.empty((n, objects, 4), np.int64)
    obj_labels = np.empty((n, objects), np.int64)
    sources = np.empty((n, objects), np.int64)
    inverted = rng.random(n) < invert_share
    for i in range(n):
        canvas = np.full((size, size), rng.uniform(0.0, 0.15), np.float32)
        for _ in range(clutter):  # fragments of other objects, anywhere
            j = rng.integers(len(src))
            r, c = rng.integers(0, src.shape[1] - 7, 2)
            frag = src[j, r:r + 7, c:c + 7] * rng.uniform(*clutter_level)
            top, left = rng.integers(0, size - 7, 2)
            canvas[top:top + 7, left:left + 7] = np.maximum(canvas[top:top + 7, left:left + 7], frag)
        placed: list[tuple[int, int, int, int]] = []
        for k in range(objects):
            for _ in range(max_tries):
                j = int(rng.integers(len(src)))
                if k and lab[j] == obj_labels[i, 0]:
                    continue
                side = int(round(src.shape[1] * rng.uniform(*scale)))
                obj = _resize(src[j], side)
                top, left = (int(v) for v in rng.integers(0, size - side + 1, 2))
                b = box_of(obj > mask_level)
                b = (b[0] + top, b[1] + left, b[2] + top, b[3] + left)
                if all(b[2] <= p[0] or p[2] <= b[0] or b[3] <= p[1] or p[3] <= b[1] for p in placed):
                    break
            else:
                raise RuntimeError(f"could not place object {k + 1} without overlap in {max_tries} tries: raise size")
            view = canvas[top:top + side, left:left + side]
            view[...] = np.maximum(view, obj)
            placed.append(b)
            boxes[i, k], obj_labels[i, k], sources[i, k] = b, lab[j], j
        canvas = canvas + rng.normal(0.0, noise, canvas.shape).astype(np.float32)
        canvas = np.clip(canvas, 0.0, 1.0)
        x[i] = 1.0 - canvas if inverted[i] else canvas
    return {"x": torch.from_numpy(x)[:, None], "y": torch.from_numpy(obj_labels[:, 0].copy()),
            "boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(obj_labels),
            "inverted": torch.from_numpy(inverted), "source": torch.from_numpy(sources)}


def load_canvas(*, source: str = "fashion-mnist", count_train: int = 10000, count_test: int = 2000, size: int = 56,
                scale: tuple[float, float] | list[float] = (0.8, 1.3), invert_share: float = 0.5, clutter: int = 6,
                noise: float = 0.05, seed: int = 0, root=None):
    """The boxed canvas as a :class:`~rilib.data.Dataset` (``rilib.data.load("canvas", ...)``, what the zoo trains on).

    Training canvases are made from the ``source`` dataset's training images (generator seed ``seed``), test canvases
    from its test images (seed ``seed + 1``), so no test garment is seen in training. ``meta`` holds the test split's
    boxes (``"boxes_test"``, (N, 1, 4)) and polarity (``"inverted_test"``); the options are the ones of
    :func:`make_canvas`. ``root`` is passed to the source's loader.
    """
    from . import load  # the package's loader table (imported here: the package imports this module's names)
    from .container import Dataset

    src = load(source, **({"root": root} if root is not None else {}))
    opts = dict(size=int(size), scale=(float(scale[0]), float(scale[1])), invert_share=float(invert_share),
                clutter=int(clutter), noise=float(noise))
    train = make_canvas(src.x_train, src.y_train, n=int(count_train), seed=int(seed), **opts)
    test = make_canvas(src.x_test, src.y_test, n=int(count_test), seed=int(seed) + 1, **opts)
    return Dataset(
        name="canvas", x_train=train["x"], y_train=train["y"], x_test=test["x"], y_test=test["y"],
        classes=src.classes, bounds=(0.0, 1.0), source=f"generated from {src.source}",
        description=(f"boxed canvas: {count_train} / {count_test} {size}×{size} canvases, one {source} object each "
                     f"(scale {opts['scale'][0]:g}–{opts['scale'][1]:g}, {clutter} clutter fragments, noise {noise:g}, "
                     f"{invert_share:.0%} inverted)"),
        meta={"variant": f"canvas-{source}", "boxes_test": test["boxes"], "inverted_test": test["inverted"]})
