"""Localisation metrics of Wang et al. (2022, Sec 4 / App. B.5; GT-Loc of Figs 5, 6, 13, 14): Loc, EG, PP and Con
on maps of known answer (indicator maps, hand-computed 4×4 examples, single and symmetric pixels), their invariances,
the WSOL box and IoU of GT-Loc, batching, the undefined cases, and a cross-check of EG and Loc against Quantus."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rilib.evaluation import (
    box_iou,
    box_masks,
    concentration,
    energy_game,
    gt_loc,
    gt_loc_iou,
    loc,
    localisation_scores,
    positive_proportion,
    predicted_box,
    quantus_crosscheck,
)

METRICS = {"loc": loc, "eg": energy_game, "pp": positive_proportion, "con": concentration}

#: the hand-computed 4×4 example: box rows 1–2, columns 0–1 holding 2, −1, 0, 3
G4 = np.array([[0.0, 1.0, 0.0, 0.0],
               [2.0, -1.0, 0.0, 0.0],
               [0.0, 3.0, 0.0, -2.0],
               [0.0, 0.0, 1.0, 0.0]])[None]
B4 = np.array([[1, 0, 3, 2]])


def _random_case(seed: int, n: int = 7, h: int = 12, w: int = 15):
    rng = np.random.default_rng(seed)
    maps = rng.normal(size=(n, h, w))
    top, left = rng.integers(0, h - 1, n), rng.integers(0, w - 1, n)
    bottom = top + 1 + rng.integers(0, h - top)
    right = left + 1 + rng.integers(0, w - left)
    return maps, np.stack([top, left, bottom, right], 1)


def test_box_masks_exclusive_corners_and_validation():
    m = box_masks(np.array([[1, 2, 3, 5], [0, 0, 4, 6]]), (4, 6))
    assert m.shape == (2, 4, 6) and m.dtype == bool
    assert m[0].sum() == 2 * 3 and m[0, 1:3, 2:5].all() and not m[0, 3].any() and not m[0, :, 5].any()
    assert m[1].all()
    for bad in ([0, 0, 5, 2], [0, 0, 2, 7], [-1, 0, 2, 2], [2, 0, 2, 3], [0, 3, 2, 3]):
        with pytest.raises(ValueError, match=r"box 1 = "):
            box_masks(np.array([[0, 0, 1, 1], bad]), (4, 6))
    with pytest.raises(ValueError):
        loc(np.zeros((4, 6)), np.array([[0, 0, 1, 1]]))  # maps must be (N, H, W)


def test_indicator_map_scores_one_and_constant_map_scores_box_share():
    h, w = 10, 12
    boxes = np.array([[2, 3, 6, 8]])  # 4 × 5 = 20 pixels of 120
    ind = box_masks(boxes, (h, w)).astype(float)
    s = localisation_scores(ind, boxes)
    assert s["loc"][0] == 1.0 and s["eg"][0] == 1.0 and s["pp"][0] == 1.0
    ones = np.ones((1, h, w))
    assert loc(ones, boxes)[0] == pytest.approx(20 / 120) and energy_game(ones, boxes)[0] == pytest.approx(20 / 120)
    assert positive_proportion(ones, boxes)[0] == 1.0
    # negative values outside the box change neither EG's numerator nor its denominator, nor Loc
    neg_out = ind - 5.0 * (1 - ind)
    assert energy_game(neg_out, boxes)[0] == 1.0 and loc(neg_out, boxes)[0] == 1.0
    # positives outside the box only enlarge the denominators
    half_out = ind + 0.5 * (1 - ind)
    assert energy_game(half_out, boxes)[0] == pytest.approx(20 / (20 + 0.5 * 100))
    assert loc(half_out, boxes)[0] == pytest.approx(20 / 120)


def test_pp_half_positive_half_negative_box_is_one_half():
    g = np.zeros((1, 8, 8))
    g[0, 2:6, 1:3] = 1.0
    g[0, 2:6, 3:5] = -1.0
    g[0, 0, 0] = 7.0  # outside the box: no effect on PP
    assert positive_proportion(g, np.array([[2, 1, 6, 5]]))[0] == 0.5


def test_hand_computed_4x4():
    # Z = {(0,1), (1,0), (2,1), (3,2)}; Z∩U = {(1,0), (2,1)}; |U| = 4; |Z∖U| = 2
    assert loc(G4, B4)[0] == pytest.approx(2 / (4 + 2))
    assert energy_game(G4, B4)[0] == pytest.approx((2 + 3) / (1 + 2 + 3 + 1))
    assert positive_proportion(G4, B4)[0] == pytest.approx(5 / (5 + 1))
    # Con: weights 2/6, 1/6, 0, 3/6 at (1/3, 0), (1/3, 1/3), (2/3, 0), (2/3, 1/3); c = (1/2, 2/9); the distances
    # 5/18 and √13/18 are all below one pixel (1/3), so all are floored: Con = Σ ĝ / (1/3) = 3
    assert concentration(G4, B4)[0] == pytest.approx(3.0)
    # a 4×4 Con without floors: |g| = 3 at (0, 0) and 1 at (3, 3), box the whole image: c = (1/4, 1/4),
    # distances √2/4 and 3√2/4 (both > 1/3): Con = (3/4)/(√2/4) + (1/4)/(3√2/4) = 10 / (3√2)
    g = np.zeros((1, 4, 4))
    g[0, 0, 0], g[0, 3, 3] = 3.0, -1.0
    assert concentration(g, np.array([[0, 0, 4, 4]]))[0] == pytest.approx(10 / (3 * math.sqrt(2)))


def test_concentration_single_pixel_and_symmetric_pair():
    g = np.zeros((1, 10, 8))
    g[0, 4, 3] = 2.5
    assert concentration(g, np.array([[2, 1, 9, 6]]))[0] == pytest.approx(9.0)  # 1 / (1/(max(10, 8) − 1))
    # two equal |g| at rows 2 and 8 of column 5 of an 11×11 image: scaled rows 0.2 and 0.8, d = 0.3
    g = np.zeros((1, 11, 11))
    g[0, 2, 5], g[0, 8, 5] = 1.0, -1.0  # opposite signs: the absolute reading weighs them equally
    assert concentration(g, np.array([[1, 3, 10, 8]]))[0] == pytest.approx(1 / 0.3)
    g[0, 8, 5] = 1.0
    assert concentration(g, np.array([[1, 3, 10, 8]]))[0] == pytest.approx(1 / 0.3)
    g[0, 0, 0] = 100.0  # outside the box: ignored
    assert concentration(g, np.array([[1, 3, 10, 8]]))[0] == pytest.approx(1 / 0.3)


def test_sign_flip_and_positive_scaling():
    maps, boxes = _random_case(3)
    np.testing.assert_allclose(concentration(-maps, boxes), concentration(maps, boxes), rtol=1e-12)
    for name, f in METRICS.items():
        np.testing.assert_allclose(f(3.7 * maps, boxes), f(maps, boxes), rtol=1e-12, err_msg=name)
    for mode in ("box", "pixel"):
        np.testing.assert_array_equal(gt_loc_iou(3.7 * maps, boxes, q=80, mode=mode),
                                      gt_loc_iou(maps, boxes, q=80, mode=mode))


def test_undefined_cases_are_nan():
    boxes = np.array([[1, 1, 3, 3]])
    s = localisation_scores(np.zeros((1, 5, 5)), boxes)
    assert s["loc"][0] == 0.0 and all(math.isnan(s[k][0]) for k in ("eg", "pp", "con"))
    s = localisation_scores(-np.ones((1, 5, 5)), boxes)  # no positive pixel: EG undefined, PP = 0
    assert s["loc"][0] == 0.0 and math.isnan(s["eg"][0]) and s["pp"][0] == 0.0 and s["con"][0] > 0
    g = np.zeros((1, 5, 5))
    g[0, 4, 4] = 1.0  # positive mass only outside the box
    s = localisation_scores(g, boxes)
    assert s["loc"][0] == 0.0 and s["eg"][0] == 0.0 and math.isnan(s["pp"][0]) and math.isnan(s["con"][0])


def test_batched_equals_one_at_a_time():
    maps, boxes = _random_case(11)
    maps[2] = 0.0  # an undefined image among defined ones
    for name, f in METRICS.items():
        one = np.array([f(maps[i:i + 1], boxes[i:i + 1])[0] for i in range(len(maps))])
        np.testing.assert_allclose(f(maps, boxes), one, rtol=1e-12, err_msg=name)
    for mode in ("box", "pixel"):
        for sigma in (0.0, 1.5):
            batched = gt_loc_iou(maps, boxes, q=70, mode=mode, blur_sigma=sigma)
            one = [gt_loc_iou(maps[i:i + 1], boxes[i:i + 1], q=70, mode=mode, blur_sigma=sigma)[0]
                   for i in range(len(maps))]
            np.testing.assert_allclose(batched, one, rtol=1e-12)


def test_predicted_box_largest_8_connected_component():
    m = np.zeros((10, 12), dtype=bool)
    m[0:2, 0:2] = True  # 4 pixels
    m[5, 5] = m[6, 6] = m[7, 7] = m[7, 8] = m[7, 9] = True  # 5 pixels, connected only diagonally
    assert predicted_box(m) == (5, 5, 8, 10)
    m[7, 7:10] = False  # now 3 pixels against 4
    assert predicted_box(m) == (0, 0, 2, 2)
    tie = np.zeros((6, 6), dtype=bool)
    tie[4:6, 4:6] = tie[0:2, 3:5] = True
    assert predicted_box(tie) == (0, 3, 2, 5)  # equal sizes: the first label in scan order
    assert predicted_box(np.zeros((4, 4), dtype=bool)) is None


def test_box_iou_hand_cases():
    assert box_iou((2, 2, 6, 6), (2, 2, 6, 6)) == 1.0
    assert box_iou((0, 0, 2, 2), (2, 2, 4, 4)) == 0.0  # touching corners share no pixel
    assert box_iou((0, 0, 4, 4), (0, 2, 4, 6)) == pytest.approx(8 / 24)  # half of each overlaps
    assert box_iou((0, 0, 4, 4), (1, 1, 3, 3)) == pytest.approx(4 / 16)


def test_gt_loc_box_indicator_at_the_box_share():
    boxes = np.array([[2, 3, 6, 8]])  # 20 of 100 pixels
    ind = box_masks(boxes, (10, 10)).astype(float)
    for mode in ("box", "pixel"):
        assert gt_loc_iou(ind, boxes, q=80, mode=mode)[0] == 1.0
        assert gt_loc_iou(-ind, boxes, q=80, mode=mode)[0] == 1.0  # |g| is thresholded
        assert gt_loc_iou(ind, boxes, q=100, mode=mode)[0] == 0.0  # nothing kept
    # kept = every pixel > the median 0: none but the box (ties at 0 are not kept)
    assert gt_loc_iou(ind, boxes, q=50)[0] == 1.0


def test_gt_loc_pixel_and_box_modes_differ_on_an_l_shape():
    g = np.zeros((1, 8, 8))
    g[0, 1:6, 1] = 1.0  # vertical bar, 5 pixels
    g[0, 5, 2:6] = 1.0  # horizontal bar, 4 more: an L of 9 pixels in the 5×5 box (1, 1, 6, 6)
    boxes = np.array([[1, 1, 6, 6]])
    assert gt_loc_iou(g, boxes, q=50, mode="box")[0] == 1.0
    assert gt_loc_iou(g, boxes, q=50, mode="pixel")[0] == pytest.approx(9 / 25)
    np.testing.assert_array_equal(gt_loc(g, boxes, qs=[50], mode="box"), [[True]])
    np.testing.assert_array_equal(gt_loc(g, boxes, qs=[50], mode="pixel"), [[False]])


def test_gt_loc_pyramid_is_monotone_in_q_up_to_the_box():
    # 9×9, box the centre 3×3; |g| = 4 − Chebyshev distance to the box: 9 fours, 16 threes, 24 twos, 32 ones
    r = np.arange(9)
    d = np.maximum(np.maximum(3 - r, r - 5), 0)
    g = (4.0 - np.maximum(d[:, None], d[None, :]))[None]
    boxes = np.array([[3, 3, 6, 6]])
    for mode in ("box", "pixel"):
        # percentile index q·80/100: q = 0 → 1 (keep the 7×7), 40 → 2 (5×5), 70 → 3 (the box), 90 → 4 (none)
        got = [gt_loc_iou(g, boxes, q=q, mode=mode)[0] for q in (0, 40, 70, 90)]
        np.testing.assert_allclose(got, [9 / 49, 9 / 25, 1.0, 0.0])
        curve = [gt_loc_iou(g, boxes, q=q, mode=mode)[0] for q in np.linspace(0, 70, 15)]
        assert np.all(np.diff(curve) >= 0)
    hits = gt_loc(np.concatenate([g, -g]), np.concatenate([boxes, boxes]), qs=[0, 40, 70, 90])
    assert hits.shape == (4, 2) and hits.dtype == bool
    np.testing.assert_array_equal(hits, [[False, False], [False, False], [True, True], [False, False]])
    # the threshold is strict and a parameter
    np.testing.assert_array_equal(gt_loc(g, boxes, qs=[40], threshold=9 / 25 - 1e-9), [[True]])


def test_gt_loc_blur():
    boxes = np.array([[0, 7, 8, 10]])  # the 3 right-most columns of an 8×10 image
    const = np.full((1, 8, 10), 0.7)
    for mode in ("box", "pixel"):
        assert gt_loc_iou(const, boxes, q=50, mode=mode, blur_sigma=2.0)[0] == \
            gt_loc_iou(const, boxes, q=50, mode=mode)[0] == 0.0  # a constant map keeps nothing, blurred or not
    # a map increasing along the columns stays strictly increasing when blurred: the same kept columns
    ramp = np.broadcast_to(np.arange(10.0), (1, 8, 10))
    for sigma in (0.0, 1.0, 3.0):
        assert gt_loc_iou(ramp, boxes, q=70, blur_sigma=sigma)[0] == 1.0
    # a single spike in a 3×3 box: unblurred only the spike is kept (IoU 1/9); blurred, the top 9 pixels are the
    # 3×3 around it (centre w0², edges w0·w1, corners w1² > w0·w2 of the next ring), i.e. the box
    g = np.zeros((1, 16, 16))
    g[0, 5, 5] = 1.0
    spike_box = np.array([[4, 4, 7, 7]])
    q = 100 * (1 - 9 / 256)
    assert gt_loc_iou(g, spike_box, q=q)[0] == pytest.approx(1 / 9)
    assert gt_loc_iou(g, spike_box, q=q, blur_sigma=1.0)[0] == 1.0
    with pytest.raises(ValueError):
        gt_loc_iou(g, spike_box, q=50, blur_sigma=-1.0)
    with pytest.raises(ValueError):
        gt_loc_iou(g, spike_box, q=101)
    with pytest.raises(ValueError):
        gt_loc_iou(g, spike_box, q=50, mode="mask")


def test_quantus_crosscheck_agrees():
    pytest.importorskip("quantus")
    maps, boxes = _random_case(5, n=12, h=20, w=20)
    maps[3] = -np.abs(maps[3])  # no positive pixel: EG NaN, Loc 0
    maps[7] = np.abs(maps[7]) + 0.1  # every pixel positive: k = H·W
    q = quantus_crosscheck(maps, boxes)
    assert q["eg"].shape == q["loc"].shape == (12,)
    np.testing.assert_allclose(q["eg"], energy_game(maps, boxes), rtol=0, atol=1e-6)
    np.testing.assert_allclose(q["loc"], loc(maps, boxes), rtol=0, atol=1e-6)
    assert math.isnan(q["eg"][3]) and q["loc"][3] == 0.0
    assert np.isfinite(q["eg"]).sum() == 11 and np.ptp(q["loc"]) > 0.1
