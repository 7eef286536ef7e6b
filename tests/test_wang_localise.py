"""Wang et al. (2022) part 2: the statistics the localisation verdicts read, on cases of known answer, and the
canvas study's helpers (object removal, the canvas model)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rilib.evaluation import bootstrap_independent
from rilib.papers.wang2022 import localise_claims as C
from rilib.papers.wang2022.localise import METHODS, remove_object


def _scores(values: dict[str, float], n: int = 20, noise: float = 0.0, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {m: {k: v + noise * rng.standard_normal(n) for k in C.METRICS} for m, v in values.items()}


def test_bootstrap_independent_resamples_each_sample_on_its_own():
    a = {"v": np.full(5, 2.0)}
    b = {"v": np.full(9, 5.0)}  # another size: a paired bootstrap could not take these
    iv = bootstrap_independent(lambda p: p[1]["v"].mean() - p[0]["v"].mean(), [a, b], n_boot=50)
    assert (iv.estimate, iv.lo, iv.hi) == (3.0, 3.0, 3.0)
    rng = np.random.default_rng(1)
    x, y = {"v": rng.normal(size=30)}, {"v": rng.normal(size=40)}
    f = lambda p: p[1]["v"].mean() - p[0]["v"].mean()  # noqa: E731
    assert bootstrap_independent(f, [x, y], seed=3) == bootstrap_independent(f, [x, y], seed=3)
    with pytest.raises(ValueError, match="same length"):
        bootstrap_independent(f, [{"v": np.zeros(3), "w": np.zeros(4)}], n_boot=5)


def test_margin_difference_and_ties():
    s = _scores({"big": 1.0, "sm": 0.25, "sg": 0.5})
    m = C.margin(s, "loc", n_boot=50)
    assert (m.estimate, m.lo, m.hi) == (0.5, 0.5, 0.5)  # constant per-image scores: no spread
    assert C.margin(s, "loc", exclude=("sg",), n_boot=50).estimate == 0.75
    assert C.difference(s, "eg", "sg", "sm", n_boot=50).estimate == 0.25
    tie = _scores({"big": 0.5, "sg": 0.5}, noise=0.3, seed=2)
    iv = C.margin(tie, "eg", n_boot=300)
    assert iv.lo < 0 < iv.hi  # a noisy tie straddles 0: inconclusive, never a pass


def test_significantly_better_counts_both_comparisons_on_every_metric():
    ref = ("sm", "ig", "gti")
    s = _scores({"bsm": 2.0, "sm": 0.0, "ig": 0.1, "gti": 0.2}, noise=0.05)
    assert C.significantly_better(s, "bsm", "sm", ref, n_boot=100) == 8
    same = _scores({"bsm": 0.0, "sm": 0.0, "ig": 0.0, "gti": 0.0})
    assert C.significantly_better(same, "bsm", "sm", ref, n_boot=100) == 0


def test_robust_minus_standard_boundary_pp_and_bigp():
    std = _scores({"big": 0.5, "agi": 0.4, "ig": 0.3, "bigp": 0.5}, n=10)
    rob = _scores({"big": 0.9, "agi": 0.6, "ig": 0.35, "bigp": 1.0}, n=15)
    assert C.robust_minus_standard(std, rob, n_boot=30).estimate == pytest.approx(0.05)  # IG: 0.35 − 0.3
    assert C.boundary_pp_gain(std, rob, n_boot=30).estimate == pytest.approx(0.1)  # AGI on std: 0.4 − 0.3
    assert C.bigp_vs_agi(std, rob, n_boot=30).estimate == pytest.approx(0.1)
    assert C.bigp_big_reldiff(std, rob) == pytest.approx(0.1 / 0.9)


def test_alignment_is_minus_the_l2_distance_and_its_correlations():
    n = 12
    rng = np.random.default_rng(0)
    base = rng.normal(size=(n, 4, 4))
    d = np.linspace(0.1, 2.0, n)  # ‖X − Y‖ = d exactly: Y = X + d·e₀
    e = np.zeros((4, 4))
    e[0, 0] = 1.0
    maps = {"sm": base, "bsm": base + d[:, None, None] * e, "ig": base, "agi": base + d[:, None, None] * e,
            "big": base + d[:, None, None] * e}
    al = C.alignment(maps)
    np.testing.assert_allclose(al["sm_bsm"], -d)
    # X's localisation scores: Loc, EG fall with the distance (r = +1 with the alignment), PP, Con unrelated
    s = {x: {"loc": -d, "eg": 1 - 2 * d, "pp": rng.normal(size=n), "con": rng.normal(size=n)} for x in ("sm", "ig")}
    out = C.alignment_stats(maps, s, n_boot=100)
    assert out["r"]["ig_big"]["loc"] == pytest.approx(1.0)
    assert out["loc_eg_min"].estimate == pytest.approx(1.0)
    assert out["gap"].estimate > 0.5


def test_gtloc_auc_best_q_and_blur_stats():
    qs = [0, 40, 80]
    hits = {"a": np.array([[0, 0], [1, 1], [1, 0]], bool), "b": np.array([[1, 1], [0, 0], [0, 0]], bool)}
    auc = C.gtloc_auc(hits)
    np.testing.assert_allclose(auc["a"], [2 / 3, 1 / 3])
    assert C.best_q(hits, qs) == {"a": 40.0, "b": 0.0}
    m = C.gtloc_margin(auc, "a", n_boot=50)
    assert m.estimate == pytest.approx(0.5 - 1 / 3)
    assert C.kendall_tau([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert C.kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    b = C.blur_stats(auc, auc)
    assert b == {"tau": pytest.approx(1.0), "change": 0.0}


def test_gtloc_hits_on_a_map_equal_to_the_box():
    m = np.zeros((1, 10, 10))
    m[0, 2:6, 3:8] = 1.0  # 20 % of the canvas
    hits = C.gtloc_hits({"x": m}, np.array([[2, 3, 6, 8]]), ["x"], [0, 50, 79])
    np.testing.assert_array_equal(hits["x"][:, 0], [True, True, True])  # every q keeps exactly the box's pixels


def test_baseline_stats_on_known_polarity():
    n = 8
    inv = np.arange(n) % 2 == 1
    # EG: the opposite-colour baseline (black for bright objects, white for inverted ones) scores 1, the same-colour 0
    eg = {"ig": np.where(inv, 0.0, 1.0), "ig_white": np.where(inv, 1.0, 0.0), "big": np.full(n, 0.6)}
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, 5, 5))
    maps = {"big": a, "bigp": 2 * a, "ig": a, "ig_white": -a}  # BIG, BIGp: ρ = 1; the two IGs: ρ = −1
    out = C.baseline_stats(eg, inv, maps, n_boot=50)
    assert out["opposite_minus_same"].estimate == pytest.approx(1.0)
    assert out["big_minus_same"].estimate == pytest.approx(0.6)
    assert out["agreement"].estimate == pytest.approx(2.0)


def test_box_share_counterfactual_and_multiobject():
    big = np.zeros((3, 6, 6))
    big[:, 0:2, 0:2] = 1.0  # 4 units in box 0
    big[:, 4:6, 4:5] = 2.0  # 4 units in box 1 ...
    big[0, 4:6, 4:5] = 6.0  # ... 12 on image 0
    big[:, 3, 3] = -5.0  # negative mass does not count
    boxes = np.tile(np.array([[0, 0, 2, 2], [4, 4, 6, 6]]), (3, 1, 1))
    share = C.box_share(big, boxes)
    np.testing.assert_allclose(share[0], [0.25, 0.75])
    np.testing.assert_allclose(share[1], [0.5, 0.5])
    t = {"big": big, "boxes": boxes, "labels": np.array([[3, 7], [3, 7], [5, 1]]), "pred": np.array([7, 3, 3]),
         "success": np.array([True, True, True]),
         # removing object k changes the prediction? image 0: only removing object 1 (BIG's) does
         "pred_without": np.array([[7, 3], [3, 3], [3, 3]])}
    cf = C.counterfactual_stats(t, n_boot=50)
    assert cf["n"] == 2  # image 2's prediction (3) is neither of *its* objects' classes (another canvas's, yes)
    assert (cf["rate_big"], cf["rate_other"]) == (0.5, 0.0)  # image 1: tie → object 0 (argmax), unchanged
    mo = C.multiobject_stats(t)
    assert mo["n"] == 2 and mo["wins"].estimate == 0.5  # image 0: predicted object 1 holds 75 %; image 1: tie
    assert mo["share_pred"] == pytest.approx((0.75 + 0.5) / 2)


def test_remove_object_fills_only_that_box_with_the_background_median():
    x = torch.full((1, 1, 8, 8), 0.1)
    x[0, 0, 0:3, 0:3] = 0.9
    x[0, 0, 5:8, 5:8] = 0.7
    boxes = torch.tensor([[[0, 0, 3, 3], [5, 5, 8, 8]]])
    out = remove_object(x, boxes, 0)
    assert torch.allclose(out[0, 0, 0:3, 0:3], torch.tensor(0.1))
    assert torch.equal(out[0, 0, 5:8, 5:8], x[0, 0, 5:8, 5:8])
    assert torch.equal(x[0, 0, 0, 0], torch.tensor(0.9))  # the input is not modified


def test_canvas_cnn_reads_any_canvas_size_and_suits_deeplift():
    from rilib.models import CanvasCNN

    m = CanvasCNN(width=4).eval()
    assert m(torch.rand(2, 1, 56, 56)).shape == m(torch.rand(2, 1, 64, 64)).shape == (2, 10)
    relus = [mod for mod in m.modules() if isinstance(mod, torch.nn.ReLU)]
    assert len(relus) == 4 and not any(r.inplace for r in relus) and len({id(r) for r in relus}) == 4
    assert METHODS == ("big", "bsm", "agi", "sm", "gti", "sg", "ig", "deeplift")


def _box_xml(path, width, height, box):
    path.write_text(f"<annotation><size><width>{width}</width><height>{height}</height></size><object><name>x</name>"
                    f"<bndbox><xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax>"
                    "</bndbox></object></annotation>")


def test_paper_profile_reads_the_users_images_boxes_weights_and_class_index(tmp_path, monkeypatch):
    """The paper profile's path end to end on a tiny ImageNette-like folder: ImageNet box XML files, a user
    ResNet-50 state-dict used as supplied (no training), ImageNet's class index mapping the class folders."""
    import json

    from PIL import Image

    from rilib import data, profiles
    from rilib.models import ImageNetResNet50
    from rilib.papers.wang2022 import localise

    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    wnids = ["n01440764", "n02102040"]
    for split in ("train", "val"):
        for w in wnids:
            (root / "imagenette" / split / w).mkdir(parents=True)
            for k in range(2):
                Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(
                    root / "imagenette" / split / w / f"{w}_{k}.png")
    for w in wnids:  # ImageNet's Annotation/<wnid>/<stem>.xml layout, boxes on the 60 × 40 originals
        (root / "boxes" / w).mkdir(parents=True)
        for k in range(2):
            _box_xml(root / "boxes" / w / f"{w}_{k}.xml", 60, 40, (20, 10, 39, 29))
    torch.manual_seed(0)
    net = ImageNetResNet50().eval()
    (root / "weights").mkdir()
    torch.save(net.net.state_dict(), root / "weights" / "r50.pth")
    # the class index maps the first class folder to what the random net predicts on its first test image (so that
    # image is "correctly classified"), the second to another class
    ds = data.load("imagefolder", path=root / "imagenette", size=32)
    with torch.no_grad():
        first = int(net(ds.x_test[0:1]).argmax(1))
    index = {str(first): [wnids[0], "a"], str((first + 1) % 1000): [wnids[1], "b"]}
    (root / "index.json").write_text(json.dumps(index))
    section = profiles.PROFILES["paper"]["wang_canvas"]
    for k, v in {"folder": {"path": "imagenette", "size": 32}, "boxes_folder": "boxes", "class_index": "index.json",
                 "weights": {"standard": "weights/r50.pth", "robust": "weights/r50.pth"}, "n_points": 4}.items():
        monkeypatch.setitem(section, k, v)
    monkeypatch.setenv("RILIB_DATA", str(root))
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path / "cache"))
    localise.points.cache_clear()
    assert not localise.is_canvas("paper") and localise.spec("standard", "paper").epochs == 0
    p = localise.points("standard", "paper")
    localise.points.cache_clear()
    assert len(p["y"]) >= 1 and int(p["y"][0]) == first  # labels in ImageNet's index
    # the 60 × 40 image → shorter side 32 (×0.8) → 48 × 32, centre crop drops 8 columns: x 20..39 → 8..24, y 8..24
    assert p["boxes"][0].tolist() == [8, 8, 24, 24]
    assert p["x"].shape[1:] == (3, 32, 32) and not p["inverted"].any()
    assert 0.0 < localise.accuracy("standard", "paper") <= 1.0
    assert localise.two_objects("standard", "paper")["pred"].shape == (0,)
    monkeypatch.setitem(section, "class_index", "missing.json")
    localise.points.cache_clear()
    with pytest.raises(FileNotFoundError, match="missing.json"):
        localise.eval_targets(ds, "paper")
