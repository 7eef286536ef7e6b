"""Localisation metrics: how much of an attribution map falls on the object's ground-truth bounding box.

Wang et al. (ICML 2022, "Robust Models are More Interpretable Because Attributions Look Normal", Sec 4 and
App. B.5) score signed attribution maps g against the box of the object. Inputs here are numpy arrays: ``maps`` of
shape (N, H, W), one signed value per pixel (the caller has already reduced the channels), and ``boxes`` an int
array (N, 4) of ``(top, left, bottom, right)`` with bottom / right *exclusive* (the box holds rows
top..bottom−1 and columns left..right−1); boxes must lie inside the image and be non-empty (:func:`box_masks`).

With X all pixels, Z = {g > 0}, V = {g < 0} and U the pixels of the box:

* **Loc** = |Z∩U| / (|U| + |Z∩(X∖U)|), the IoU of the positive pixels with the box (:func:`loc`); 0 when Z is
  empty;
* **EG**, the energy-based pointing game, = Σ_{Z∩U} g / Σ_X max(g, 0) (:func:`energy_game`); NaN when
  Σ_X max(g, 0) = 0;
* **PP**, the positive proportion, = Σ_{Z∩U} g / (Σ_{Z∩U} g − Σ_{V∩U} g) (:func:`positive_proportion`); NaN when
  Σ_U |g| = 0;
* **Con**, the concentration, = Σ_{i∈U} ĝ_i / dist(i, c) with c the ĝ-weighted centre of mass over U and the pixel
  coordinates scaled to [0, 1] (row r → r/(H−1), column → c/(W−1)) (:func:`concentration`); NaN when
  Σ_U |g| = 0. Two readings: (1) the paper's text says absolute values while its formula is signed; we use
  ĝ_i = |g_i| / Σ_{j∈U} |g_j|, so the weights sum to 1 and the centre of mass is a convex combination of the box's
  pixels — with signed weights Σ ĝ ≈ 0 for a half-negative map, c is undefined, and the paper's Con ≈ 4 for the
  signed saliency map (about half of it negative) is only possible with absolute values; (2) the distance at c is
  floored at one pixel: dist = max(‖p_i − c‖₂, 1/(max(H, W) − 1)), so a single nonzero pixel scores
  max(H, W) − 1 rather than infinity.

**GT-Loc** (Wang et al. Figs 5, 6, 13, 14) is the share of images whose thresholded map has IoU > 0.5 with the box
(:func:`gt_loc_iou`, :func:`gt_loc`). Readings: |g| (absolute values) is thresholded at its own q-th percentile,
per image (the kept pixels are those with |g| > ``np.percentile(|g|, q)``); by the WSOL convention the predicted
box is the tight box around the largest 8-connected component of the kept pixels (:func:`predicted_box`, ties to
the first label of ``scipy.ndimage.label``) and the IoU is between the two boxes as sets of pixels
(:func:`box_iou`); ``mode="pixel"`` instead takes the IoU of the kept pixels themselves with the box's pixels. An
optional Gaussian blur of |g| (``blur_sigma`` in pixels, ``mode="nearest"`` at the borders; Fig 14 uses σ = 3 px on
224-px images) is applied before the percentile. An image with nothing kept has IoU 0.

:func:`quantus_crosscheck` recomputes EG and Loc with the Quantus library (Hedström et al. 2023) as an
independent check of this code.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["GT_LOC_MODES", "box_masks", "loc", "energy_game", "positive_proportion", "concentration",
           "localisation_scores", "predicted_box", "box_iou", "gt_loc_iou", "gt_loc", "quantus_crosscheck"]

#: modes of :func:`gt_loc_iou`: the WSOL box around the largest component, or the kept pixels themselves
GT_LOC_MODES = ("box", "pixel")


def _check_boxes(boxes, h: int, w: int, n: int | None = None) -> np.ndarray:
    b = np.asarray(boxes)
    if b.ndim == 1 and b.shape == (4,):
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must be an (N, 4) array of (top, left, bottom, right), got shape {b.shape}")
    if n is not None and b.shape[0] != n:
        raise ValueError(f"{b.shape[0]} boxes for {n} maps")
    if not np.issubdtype(b.dtype, np.integer):
        if not np.all(np.isfinite(b)) or np.any(b != np.round(b)):
            raise ValueError("boxes must hold integer pixel coordinates")
        b = np.round(b)
    b = b.astype(np.int64)
    t, l, bo, r = b.T
    bad = ~((0 <= t) & (t < bo) & (bo <= h) & (0 <= l) & (l < r) & (r <= w))
    if bad.any():
        i = int(np.argmax(bad))
        t, l, bo, r = (int(v) for v in b[i])
        raise ValueError(f"box {i} = (top={t}, left={l}, bottom={bo}, right={r}) is empty or outside the "
                         f"{h}×{w} image (bottom / right are exclusive)")
    return b


def _check_maps(maps) -> np.ndarray:
    if hasattr(maps, "detach"):  # a torch tensor on any device: the metrics are cheap numpy on the CPU
        maps = maps.detach().cpu().double().numpy()
    g = np.asarray(maps, dtype=np.float64)
    if g.ndim != 3:
        raise ValueError(f"maps must be an (N, H, W) array (one value per pixel), got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("maps contain NaN or infinite values")
    return g


def box_masks(boxes, shape) -> np.ndarray:
    """Boolean masks (N, H, W) of the boxes ``(top, left, bottom, right)`` (bottom / right exclusive) on images of
    ``shape`` (H, W) (or (N, H, W)). A box that is empty or leaves the image raises ``ValueError`` naming the
    image's index and the box."""
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"shape must be (H, W) or (N, H, W), got {shape}")
    h, w = shape[-2:]
    b = _check_boxes(boxes, h, w, shape[0] if len(shape) == 3 else None)
    rows, cols = np.arange(h), np.arange(w)
    in_rows = (rows[None] >= b[:, :1]) & (rows[None] < b[:, 2:3])  # (N, H)
    in_cols = (cols[None] >= b[:, 1:2]) & (cols[None] < b[:, 3:4])  # (N, W)
    return in_rows[:, :, None] & in_cols[:, None, :]


def _inputs(maps, boxes) -> tuple[np.ndarray, np.ndarray]:
    g = _check_maps(maps)
    return g, box_masks(boxes, g.shape)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den = 0."""
    out = np.full(num.shape, np.nan)
    ok = den != 0
    out[ok] = num[ok] / den[ok]
    return out


def loc(maps, boxes) -> np.ndarray:
    """Loc (Wang et al. 2022, Sec 4 / App. B.5), per image: |Z∩U| / (|U| + |Z∩(X∖U)|) = IoU(Z, U), Z the
    positive pixels (g > 0), U the box's pixels. 0 when no pixel is positive (|U| > 0 always)."""
    g, u = _inputs(maps, boxes)
    z = g > 0
    inside = (z & u).sum((1, 2))
    outside = (z & ~u).sum((1, 2))
    return inside / (u.sum((1, 2)) + outside)


def energy_game(maps, boxes) -> np.ndarray:
    """EG, the energy-based pointing game (Wang et al. 2022, Sec 4 / App. B.5), per image:
    Σ_{Z∩U} g / Σ_X max(g, 0) — the share of the positive attribution that falls in the box. Negative values
    count nowhere. NaN when no pixel is positive."""
    g, u = _inputs(maps, boxes)
    pos = np.maximum(g, 0.0)
    return _ratio((pos * u).sum((1, 2)), pos.sum((1, 2)))


def positive_proportion(maps, boxes) -> np.ndarray:
    """PP, the positive proportion (Wang et al. 2022, Sec 4 / App. B.5), per image:
    Σ_{Z∩U} g / (Σ_{Z∩U} g − Σ_{V∩U} g) — the positive share of the attribution mass inside the box (Z: g > 0,
    V: g < 0). NaN when Σ_U |g| = 0."""
    g, u = _inputs(maps, boxes)
    pos = (np.maximum(g, 0.0) * u).sum((1, 2))
    neg = (np.maximum(-g, 0.0) * u).sum((1, 2))
    return _ratio(pos, pos + neg)


def concentration(maps, boxes) -> np.ndarray:
    """Con, the concentration (Wang et al. 2022, Sec 4 / App. B.5), per image: Σ_{i∈U} ĝ_i / dist(i, c).

    Readings (module docstring): ĝ_i = |g_i| / Σ_{j∈U} |g_j| (absolute values, as the paper's text says; the
    weights sum to 1), c = Σ_{i∈U} ĝ_i p_i the centre of mass over the box, p_i the pixel's (row/(H−1),
    col/(W−1)) in [0, 1]², and dist(i, c) = max(‖p_i − c‖₂, 1/(max(H, W) − 1)), floored at one pixel. Invariant
    under g → −g and g → a·g (a > 0); a single nonzero pixel scores max(H, W) − 1. NaN when Σ_U |g| = 0.
    """
    g, u = _inputs(maps, boxes)
    n, h, w = g.shape
    if max(h, w) < 2:
        raise ValueError("concentration needs images of at least 2 pixels along one side")
    a = np.abs(g) * u
    total = a.sum((1, 2))
    out = np.full(n, np.nan)
    ok = total > 0
    if not ok.any():
        return out
    wgt = a[ok] / total[ok, None, None]
    ys = (np.arange(h) / max(h - 1, 1))[None, :, None]
    xs = (np.arange(w) / max(w - 1, 1))[None, None, :]
    cy = (wgt * ys).sum((1, 2))[:, None, None]
    cx = (wgt * xs).sum((1, 2))[:, None, None]
    dist = np.maximum(np.sqrt((ys - cy) ** 2 + (xs - cx) ** 2), 1.0 / (max(h, w) - 1))
    out[ok] = (wgt / dist).sum((1, 2))
    return out


def localisation_scores(maps, boxes) -> dict[str, np.ndarray]:
    """The four localisation metrics of Wang et al. (2022, Sec 4), per image: ``{"loc": loc, "eg": energy_game,
    "pp": positive_proportion, "con": concentration}`` (each of shape (N,))."""
    return {"loc": loc(maps, boxes), "eg": energy_game(maps, boxes), "pp": positive_proportion(maps, boxes),
            "con": concentration(maps, boxes)}


def predicted_box(mask2d) -> tuple[int, int, int, int] | None:
    """The WSOL box of a kept-pixel mask (H, W): ``(top, left, bottom, right)`` (bottom / right exclusive) tight
    around its largest 8-connected component (ties: the first label of ``scipy.ndimage.label``); None when the
    mask is empty."""
    from scipy import ndimage

    m = np.asarray(mask2d, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"predicted_box takes one (H, W) mask, got shape {m.shape}")
    labels, count = ndimage.label(m, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return None
    largest = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1  # argmax: the first of equal sizes
    rows, cols = ndimage.find_objects(labels, max_label=largest)[largest - 1]
    return int(rows.start), int(cols.start), int(rows.stop), int(cols.stop)


def box_iou(a, b) -> float:
    """IoU of two boxes ``(top, left, bottom, right)`` (bottom / right exclusive) as sets of pixels:
    |a∩b| / |a∪b|; 0 when both are empty."""
    t1, l1, b1, r1 = (int(v) for v in a)
    t2, l2, b2, r2 = (int(v) for v in b)
    inter = max(0, min(b1, b2) - max(t1, t2)) * max(0, min(r1, r2) - max(l1, l2))
    union = max(0, b1 - t1) * max(0, r1 - l1) + max(0, b2 - t2) * max(0, r2 - l2) - inter
    return inter / union if union > 0 else 0.0


def _abs_maps(g: np.ndarray, blur_sigma: float) -> np.ndarray:
    a = np.abs(g)
    if blur_sigma < 0:
        raise ValueError(f"blur_sigma must be >= 0, got {blur_sigma}")
    if blur_sigma > 0:
        from scipy import ndimage

        a = ndimage.gaussian_filter(a, sigma=(0.0, float(blur_sigma), float(blur_sigma)), mode="nearest")
    return a


def _ious_at(a: np.ndarray, u: np.ndarray, b: np.ndarray, q: float, mode: str) -> np.ndarray:
    if not 0.0 <= float(q) <= 100.0:
        raise ValueError(f"q must lie in [0, 100], got {q}")
    kept = a > np.percentile(a, float(q), axis=(1, 2))[:, None, None]
    if mode == "pixel":
        return (kept & u).sum((1, 2)) / (kept | u).sum((1, 2))
    out = np.zeros(a.shape[0])
    for i in range(a.shape[0]):
        box = predicted_box(kept[i])
        if box is not None:
            out[i] = box_iou(box, b[i])
    return out


def _gt_inputs(maps, boxes, mode: str, blur_sigma: float):
    if mode not in GT_LOC_MODES:
        raise ValueError(f"mode must be 'box' or 'pixel', not {mode!r}")
    g = _check_maps(maps)
    b = _check_boxes(boxes, g.shape[1], g.shape[2], g.shape[0])
    return _abs_maps(g, blur_sigma), box_masks(b, g.shape), b


def gt_loc_iou(maps, boxes, *, q: float, mode: str = "box", blur_sigma: float = 0.0) -> np.ndarray:
    """IoU per image (N,) of the thresholded map with the box, as in GT-Loc (Wang et al. 2022, Figs 5, 6, 13, 14).

    The kept pixels are those with |g| > its own q-th percentile (``np.percentile``, per image), after an optional
    Gaussian blur of |g| of ``blur_sigma`` pixels (``mode="nearest"``). ``mode="box"``: the IoU of the box around
    the largest 8-connected component of the kept pixels (:func:`predicted_box`) with the ground-truth box
    (:func:`box_iou`); ``mode="pixel"``: the IoU of the kept pixels themselves with the box's pixels. 0 when
    nothing is kept (e.g. q = 100, or a constant map).
    """
    a, u, b = _gt_inputs(maps, boxes, mode, blur_sigma)
    return _ious_at(a, u, b, q, mode)


def gt_loc(maps, boxes, *, qs, mode: str = "box", blur_sigma: float = 0.0, threshold: float = 0.5) -> np.ndarray:
    """Hits of GT-Loc (Wang et al. 2022, Figs 5, 6, 13, 14): a bool array (len(qs), N), True where the IoU of
    :func:`gt_loc_iou` at percentile q exceeds ``threshold`` (strictly). Its mean over images is the GT-Loc
    curve at each q; the per-image hits let the caller bootstrap it."""
    a, u, b = _gt_inputs(maps, boxes, mode, blur_sigma)
    qs = np.atleast_1d(np.asarray(qs, dtype=float))
    hits = np.zeros((qs.size, a.shape[0]), dtype=bool)
    for j, q in enumerate(qs):
        hits[j] = _ious_at(a, u, b, q, mode) > threshold
    return hits


def quantus_crosscheck(maps, boxes) -> dict[str, np.ndarray]:
    """EG and Loc per image computed by Quantus (Hedström et al. 2023), to check :func:`energy_game` and
    :func:`loc` against an independent implementation: ``{"eg": (N,), "loc": (N,)}``.

    * EG: ``quantus.RelevanceMassAccuracy(abs=False, normalise=False)`` on the positive part max(g, 0) — it
      returns Σ_U a / Σ_X a exactly (no ε in the denominator; NaN when Σ a = 0, as here);
    * Loc: ``quantus.TopKIntersection(k=|Z|, abs=False, normalise=False, concept_influence=False)`` on g — its top
      |Z| pixels are exactly the positive ones, so it returns the precision p = |Z∩U| / |Z|, turned into the IoU
      p|Z| / (|U| + (1 − p)|Z|); images with no positive pixel get 0 without calling Quantus. Quantus requires
      k < H·W, so every map is padded with one column of zeros outside the box (which changes neither the top
      |Z| pixels nor the box).

    Quantus is imported here (``pip install quantus``); its warnings and progress bars are silenced.
    """
    try:
        import quantus
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("quantus_crosscheck needs Quantus: pip install 'quantus>=0.6'") from e
    g, u = _inputs(maps, boxes)
    n, h, w = g.shape
    opts = dict(abs=False, normalise=False, disable_warnings=True, display_progressbar=False)

    def run(metric, a: np.ndarray, s: np.ndarray) -> np.ndarray:
        x = np.zeros(a.shape[:1] + (1,) + a.shape[1:])
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")
            scores = metric(model=None, x_batch=x, y_batch=np.zeros(a.shape[0], dtype=np.int64),
                            a_batch=a[:, None], s_batch=s[:, None].astype(np.float64), channel_first=True)
        return np.asarray(scores, dtype=np.float64).reshape(a.shape[0])

    eg = run(quantus.RelevanceMassAccuracy(**opts), np.maximum(g, 0.0), u)

    pad = ((0, 0), (0, 0), (0, 1))
    gp, up = np.pad(g, pad), np.pad(u, pad)
    k = (g > 0).sum((1, 2))
    size_u = u.sum((1, 2))
    iou = np.zeros(n)
    for kv in np.unique(k[k > 0]):
        idx = np.flatnonzero(k == kv)
        p = run(quantus.TopKIntersection(k=int(kv), concept_influence=False, **opts), gp[idx], up[idx])
        iou[idx] = p * kv / (size_u[idx] + (1.0 - p) * kv)
    return {"eg": eg, "loc": iou}
