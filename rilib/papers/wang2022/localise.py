"""Wang et al. (2022), part 2: the localisation study on the boxed canvas (the stand-in for ImageNette with boxes).

``spec``          the canvas models: a standard and an ℓ2-adversarially trained :class:`rilib.models.CanvasCNN` on
                  :func:`rilib.data.canvas.load_canvas` (profile section ``wang_canvas``), from the zoo;
``points``        a model's evaluation set: its first ``n_points`` correctly classified test canvases whose box
                  covers less than 80 % of the canvas (the paper's rule), with their boxes and polarity;
``maps``          the boundary search (:func:`rilib.attacks.boundary.boundary_search`, the ladder of the model's
                  kind) and the signed maps of :data:`METHODS` (Table 3's eight), BIGp (Table 8) and IG from a white
                  image (Fig 7), cached per model, settings and images;
``two_objects``   Figs 12 and 18 on the two-object canvases: the model's prediction, the prediction with each object
                  replaced by background, and BIG's map (cached);
``prepare``       one worker job per model (training, search, maps; the two-object study with the standard
                  model's) — only what is not cached.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from ... import attribution, cache, parallel, profiles, zoo
from ...attacks.boundary import boundary_search
from ...data.canvas import make_canvas
from .jobs import _attr_settings, boundary_maps, search_settings

__all__ = ["MODELS", "METHODS", "LABELS", "is_canvas", "data_kwargs", "spec", "eval_targets", "accuracy", "points",
           "search_config", "maps", "two_objects", "remove_object", "prepare", "label"]

#: the two canvas models (the paper's standard and ℓ2|3.0 ResNet-50s)
MODELS = ("standard", "robust")
#: Table 3's eight methods, in the paper's column order
METHODS = ("big", "bsm", "agi", "sm", "gti", "sg", "ig", "deeplift")
#: how the book names them (Table 3's header)
LABELS = {"big": "BIG", "bsm": "BSM", "agi": "AGI", "sm": "SM", "gti": "GTI", "sg": "SG", "ig": "IG",
          "deeplift": "DeepLIFT", "bigp": "BIGp", "ig_white": "IG (white)"}


def label(name: str, profile: str) -> str:
    """``standard`` or ``ℓ2|<ε>`` (the robust model's training ε, pixels in [0, 1]; the paper profile's user
    weights: the paper's ℓ2|3.0)."""
    if name == "standard":
        return "standard"
    return f"ℓ2|{float(_section(profile).robust_eps):g}" if is_canvas(profile) else "ℓ2|3.0"


def _section(profile: str):
    return profiles.get(profile).wang_canvas


def is_canvas(profile: str) -> bool:
    """True where the profile studies the boxed canvas (ci, default); False for the user's ImageNette (paper)."""
    return str(_section(profile).dataset) == "canvas"


def data_kwargs(profile: str) -> dict[str, Any]:
    """The dataset's options: the canvas's (``rilib.data.load("canvas", **data_kwargs(profile))``), or the image
    folder's at the paper profile."""
    C = _section(profile)
    if not is_canvas(profile):
        return C.folder.to_dict()
    return {"source": str(C.source), "count_train": int(C.count_train), "count_test": int(C.count_test),
            "size": int(C.size), "scale": [float(s) for s in C.scale], "invert_share": float(C.invert_share),
            "clutter": int(C.clutter), "noise": float(C.noise), "seed": int(C.seed)}


def spec(name: str, profile: str) -> zoo.ModelSpec:
    """The zoo spec of the ``standard`` or ``robust`` model. The canvas CNNs: Adam with a step decay two epochs
    before the end; the robust one trained on L2 PGD examples alone (random start, ``train_steps`` steps of
    2.5ε/steps). The paper profile: the user's pretrained ResNet-50 weights as supplied (no training)."""
    if name not in MODELS:
        raise ValueError(f"unknown canvas model {name!r}: one of {', '.join(MODELS)}")
    C = _section(profile)
    if not is_canvas(profile):
        return zoo.ModelSpec(dataset=str(C.dataset), data_kwargs=data_kwargs(profile), arch="resnet50",
                             arch_kwargs={"num_classes": 1000}, regime="ce", epochs=0,
                             batch_size=int(C.batch_size), seed=0, profile=profile,
                             init_weights=str(C.weights[name]))
    epochs = int(C.epochs)
    common = dict(dataset="canvas", data_kwargs=data_kwargs(profile), arch="canvas_cnn",
                  arch_kwargs={"width": int(C.width)}, epochs=epochs, batch_size=int(C.batch_size), seed=0,
                  profile=profile, optimizer={"name": "adam", "lr": float(C.lr)},
                  lr_schedule={"step_size": max(1, epochs - 2), "gamma": 0.2})
    if name == "standard":
        return zoo.ModelSpec(regime="ce", **common)
    eps, steps = float(C.robust_eps), int(C.train_steps)
    return zoo.ModelSpec(regime="adversarial", regime_kwargs={
        "eps": eps, "norm": "l2", "steps": steps, "step_size": 2.5 * eps / steps, "loss": "ce",
        "random_start": True, "adversarial_only": True, "bounds": [0.0, 1.0]}, **common)


def _model(name: str, profile: str, device=None):
    return zoo.get(spec(name, profile), device=device, progress=False).model.eval()


def _class_index(path) -> dict[str, int]:
    """ImageNet's class index file (``{"0": ["n01440764", "tench"], ...}``) as {wnid: index}."""
    import json
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"ImageNet class index {p} not found: put imagenet_class_index.json there (index → "
                                "[wnid, name], the file torchvision / Keras use) so that ImageNette's class folders "
                                "map to the ResNet-50's outputs")
    try:
        return {str(v[0]): int(k) for k, v in json.loads(p.read_text()).items()}
    except (ValueError, TypeError, IndexError, KeyError) as e:
        raise ValueError(f"{p} is not an ImageNet class index (index → [wnid, name], e.g. "
                         f"{{\"0\": [\"n01440764\", \"tench\"]}}): {e}") from None


def eval_targets(ds, profile: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The test split's (labels in the model's classes, boxes (N, 4) with −1 rows where none, inverted (N,)):
    the canvas's own, or at the paper profile ImageNet's index of each class folder, the box XML files
    (:func:`rilib.data.boxes_for_images`) and no polarity."""
    if is_canvas(profile):
        return ds.y_test, ds.meta["boxes_test"][:, 0], ds.meta["inverted_test"]
    from ...data import boxes_for_images, data_root

    C = _section(profile)
    path = data_root() / str(C.class_index)
    index = _class_index(path)
    unknown = sorted({ds.classes[int(c)] for c in ds.y_test} - set(index))
    if unknown:
        raise ValueError(f"class folder(s) {', '.join(unknown[:5])} are not ImageNet wnids of {path}: name the "
                         "ImageNette folders by their wnids (n01440764, ...)")
    y = torch.tensor([index[ds.classes[int(c)]] for c in ds.y_test], dtype=torch.long)
    files = [ds.x_test.root / f for f in ds.x_test.files]
    boxes = torch.from_numpy(boxes_for_images(files, data_root() / str(C.boxes_folder), size=int(C.folder["size"])))
    return y, boxes, torch.zeros(len(y), dtype=torch.bool)


def _point_indices(name: str, profile: str) -> dict[str, np.ndarray]:
    """``{"idx", "accuracy"}``: the test indices of :func:`points` and the model's accuracy on the whole test split
    (cached under the model's key: a warm page does not re-predict)."""
    C = _section(profile)
    sp = spec(name, profile)
    ds = zoo.load_data(sp)

    def compute() -> dict[str, np.ndarray]:
        y, boxes, _ = eval_targets(ds, profile)
        model = _model(name, profile)
        dev = next(model.parameters()).device
        with torch.no_grad():
            pred = torch.cat([model(ds.x_test[i:i + 250].to(dev)).argmax(1).cpu() for i in range(0, len(y), 250)])
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        side = ds.x_test.shape[-1]
        ok = (pred == y) & (boxes[:, 0] >= 0) & (area < 0.8 * side * side)
        return {"idx": torch.nonzero(ok).flatten()[: int(C.n_points)].numpy(),
                "accuracy": np.asarray(float((pred == y).float().mean()))}

    key = cache.key("wang-canvas-points", spec={"n_points": int(C.n_points), "max_box_share": 0.8},
                    code=[f"{__name__}:_point_indices"], model=sp.key)
    return zoo.cached_arrays(f"wang-canvas-points-{name}", key, compute)


def accuracy(name: str, profile: str) -> float:
    """The model's accuracy on the test split (in its own classes: ImageNet's at the paper profile)."""
    return float(_point_indices(name, profile)["accuracy"])


@functools.lru_cache(maxsize=8)
def points(name: str, profile: str) -> dict[str, torch.Tensor]:
    """``{"x", "y", "boxes" (N, 4), "inverted" (N,)}``: the model's first ``n_points`` correctly classified test
    images with a box under 80 % of the image (the paper's rule; memoised per process; do not modify the
    tensors)."""
    ds = zoo.load_data(spec(name, profile))
    idx = torch.from_numpy(_point_indices(name, profile)["idx"])
    y, boxes, inverted = eval_targets(ds, profile)
    return {"x": ds.x_test[idx], "y": y[idx], "boxes": boxes[idx], "inverted": inverted[idx]}


def search_config(name: str, profile: str) -> dict[str, Any]:
    """The boundary search's settings (App. B.2): part 1's pipeline (:func:`rilib.papers.wang2022.jobs.search_settings`)
    over the canvas ladder of ``wang_canvas`` (the robust ladder for the robust model)."""
    C = _section(profile)
    return search_settings(C.ladder_robust if name == "robust" else C.ladder_standard, profile)


def _settings(profile: str) -> dict[str, Any]:
    """Part 1's attribution settings (:func:`rilib.papers.wang2022.jobs._attr_settings`) and SmoothGrad's."""
    C = _section(profile)
    return {**_attr_settings(profile), "sg_n": int(C.sg_n), "sg_sigma": float(C.sg_sigma)}


def _key(kind: str, name: str, profile: str, settings: dict[str, Any], inputs) -> cache.Key:
    return cache.key(f"wang-canvas-{kind}", spec=settings, code=[f"{__name__}:{kind}"], inputs=inputs,
                     model=spec(name, profile).key)


def _all_maps(model, x: torch.Tensor, y: torch.Tensor, xb: torch.Tensor, xp: torch.Tensor,
              A: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Signed maps, target = the true (= predicted) class (App. B.3): part 1's SM, BSM, IG from black, BIG, BIGp
    and AGI (:func:`rilib.papers.wang2022.jobs.boundary_maps`), and GTI = x ⊙ ∇, SG (Smilkov's signed mean, the
    paper's code's σ), DeepLIFT (rescale, black baseline) and IG from white (1)."""
    kw = dict(target=y, abs=False, channel_sum=False)
    return {**boundary_maps(model, x, y, xb, xp, A),
            "gti": attribution.attribute(model, x, method="input_x_gradient", **kw),
            "sg": attribution.attribute(model, x, method="smoothgrad", n=A["sg_n"], sigma=A["sg_sigma"],
                                        abs_each=False, **kw),
            "deeplift": attribution.attribute(model, x, method="deeplift", baseline=0.0, **kw),
            "ig_white": attribution.attribute(model, x, method="integrated_gradients", baseline=1.0,
                                              n_steps=A["ig_steps"], **kw)}


def _maps_where(name: str, profile: str):
    p = points(name, profile)
    cfg, A = search_config(name, profile), _settings(profile)
    key = _key("maps", name, profile, {"search": cfg, "maps": A}, [p["x"], p["y"]])
    return f"wang-canvas-maps-{name}", key, (p, cfg, A)


def maps(name: str, profile: str, *, device=None) -> dict[str, np.ndarray]:
    """The boundary search and every map on :func:`points` (cached): ``{"x", "y", "boxes", "inverted",
    "x_boundary", "x_pgd", "success", "l2", <method>: (N, H, W) signed map for each of :data:`METHODS`, "bigp",
    "ig_white"}``."""
    cname, key, (p, cfg, A) = _maps_where(name, profile)

    def compute() -> dict[str, np.ndarray]:
        model = _model(name, profile, device)
        r = boundary_search(model, p["x"], p["y"], bounds=(0.0, 1.0), device=device, **cfg)
        m = _all_maps(model, p["x"], p["y"], r.x_boundary, r.x_pgd, A)
        return {**{k: v.numpy() for k, v in p.items()}, "x_boundary": r.x_boundary.numpy(),
                "x_pgd": r.x_pgd.numpy(), "success": r.success.numpy(),
                "l2": (r.x_boundary - p["x"]).flatten(1).norm(dim=1).numpy(),
                **{k: v[:, 0].numpy() for k, v in m.items()}}

    return zoo.cached_arrays(cname, key, compute)


def remove_object(x: torch.Tensor, boxes: torch.Tensor, k: int) -> torch.Tensor:
    """``x`` (N, 1, H, W) with object ``k``'s box (``boxes`` (N, objects, 4)) filled with the canvas's background: the
    median of the pixels outside every box (Fig 12's counterfactual: the object is gone, the canvas stays)."""
    out = x.clone()
    for i in range(x.shape[0]):
        outside = torch.ones(x.shape[-2:], dtype=torch.bool)
        for t, l, b, r in boxes[i].tolist():
            outside[t:b, l:r] = False
        t, l, b, r = boxes[i, k].tolist()
        out[i, :, t:b, l:r] = x[i, 0][outside].median()
    return out


def _two_where(name: str, profile: str):
    C = _section(profile)
    src = zoo.load_data(zoo.ModelSpec(dataset=str(C.source), arch=""))
    t = make_canvas(src.x_test, src.y_test, n=int(C.n_two), size=int(C.two_object_size),
                    scale=tuple(float(s) for s in C.two_object_scale), objects=2,
                    invert_share=float(C.invert_share), clutter=int(C.clutter), noise=float(C.noise),
                    seed=int(C.seed) + 2)
    cfg, A = search_config(name, profile), _settings(profile)
    key = _key("two_objects", name, profile, {"search": cfg, "ig_steps": A["ig_steps"]}, [t["x"], t["boxes"]])
    return f"wang-canvas-two-{name}", key, (t, cfg, A)


def two_objects(name: str, profile: str, *, device=None) -> dict[str, np.ndarray]:
    """Figs 12 and 18 on ``n_two`` two-object test canvases (cached): ``{"x", "boxes" (N, 2, 4), "labels" (N, 2),
    "inverted", "pred", "pred_without" (N, 2): the prediction with object k replaced by background, "big", "ig": (N, H, W)
    BIG's and IG's (black baseline) maps for the predicted class, "success"}``. The canvas model reads any canvas size (global average
    pooling)."""
    if not is_canvas(profile):  # no two-object images with boxes at the paper profile: an empty study
        return {"x": np.zeros((0, 3, 1, 1), np.float32), "boxes": np.zeros((0, 2, 4), np.int64),
                "labels": np.zeros((0, 2), np.int64), "inverted": np.zeros(0, bool), "pred": np.zeros(0, np.int64),
                "pred_without": np.zeros((0, 2), np.int64), "big": np.zeros((0, 1, 1), np.float32),
                "ig": np.zeros((0, 1, 1), np.float32), "success": np.zeros(0, bool)}
    cname, key, (t, cfg, A) = _two_where(name, profile)

    def compute() -> dict[str, np.ndarray]:
        model = _model(name, profile, device)
        x = t["x"]
        with torch.no_grad():
            pred = model(x).argmax(1)
            without = torch.stack([model(remove_object(x, t["boxes"], k)).argmax(1) for k in range(2)], 1)
        r = boundary_search(model, x, pred, bounds=(0.0, 1.0), device=device, **cfg)
        kw = dict(target=pred, abs=False, channel_sum=False, n_steps=A["ig_steps"])
        big = attribution.attribute(model, x, method="big", boundary=r.x_boundary, **kw)
        ig = attribution.attribute(model, x, method="integrated_gradients", baseline=0.0, **kw)
        return {"x": x.numpy(), "boxes": t["boxes"].numpy(), "labels": t["labels"].numpy(),
                "inverted": t["inverted"].numpy(), "pred": pred.numpy(), "pred_without": without.numpy(),
                "big": big[:, 0].numpy(), "ig": ig[:, 0].numpy(), "success": r.success.numpy()}

    return zoo.cached_arrays(cname, key, compute)


def _job(name: str, profile: str) -> str:
    maps(name, profile)  # trains the model first when the zoo has none
    if name == "standard":
        two_objects(name, profile)
    return name


def _done(name: str, profile: str) -> bool:
    if not zoo.is_cached(spec(name, profile)):
        return False
    where = [_maps_where] + ([_two_where] if name == "standard" and is_canvas(profile) else [])
    return all(zoo.cached_path(*w(name, profile)[:2]).exists() for w in where)


def prepare(profile: str) -> None:
    """Everything of part 2 that is not cached, in worker processes, one job per model — it trains the model (when
    the zoo has none), then its boundary search and maps (and, for the standard model, the two-object study) — so
    the standard model's searches overlap the robust model's longer training. Every page of part 2 calls this
    first."""
    todo = [(n, profile) for n in ("robust", "standard") if not _done(n, profile)]
    if todo:
        parallel.map_jobs(_job, todo, desc="Wang part 2: canvas models, boundary searches and maps")
