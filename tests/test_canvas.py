"""The boxed canvas (Wang et al. part 2's stand-in for ImageNette with boxes): deterministic per seed, the box is the
object's tight box (a solid square of known size and place), polarity, two non-overlapping objects of different
classes, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rilib.data.canvas import box_of, make_canvas


def _squares(n=6, side=10):
    """28 × 28 sources: a solid side × side square at rows/cols 9 … 9 + side, label = index % 3."""
    img = torch.zeros(n, 1, 28, 28)
    img[:, :, 9:9 + side, 9:9 + side] = 1.0
    return img, torch.arange(n) % 3


def test_box_of_by_hand():
    m = np.zeros((8, 8), bool)
    m[2:5, 3:7] = True
    assert box_of(m) == (2, 3, 5, 7)
    with pytest.raises(ValueError, match="empty"):
        box_of(np.zeros((3, 3), bool))


def test_same_seed_same_canvases_other_seed_other():
    img, lab = _squares()
    a = make_canvas(img, lab, n=5, seed=1)
    b = make_canvas(img, lab, n=5, seed=1)
    c = make_canvas(img, lab, n=5, seed=2)
    for k in a:
        assert torch.equal(a[k], b[k])
    assert not torch.equal(a["x"], c["x"])


def test_box_is_the_pasted_squares_tight_box_and_holds_the_object():
    img, lab = _squares()
    r = make_canvas(img, lab, n=8, size=40, scale=(1.0, 1.0), clutter=0, noise=0.0, invert_share=0.0, seed=0)
    for i in range(8):
        t, l, b, rr = (int(v) for v in r["boxes"][i, 0])
        assert (b - t, rr - l) == (10, 10)  # the square, unscaled
        x = r["x"][i, 0]
        assert torch.all(x[t:b, l:rr] == 1.0)  # all object inside the box
        outside = x.clone()
        outside[t:b, l:rr] = 0.0
        assert float(outside.max()) <= 0.15  # the background level; nothing of the object outside
        assert int(r["y"][i]) == int(lab[int(r["source"][i, 0])])


def test_polarity_inverts_object_and_background():
    img, lab = _squares()
    kw = dict(n=6, size=40, scale=(1.0, 1.0), clutter=0, noise=0.0, seed=3)
    bright = make_canvas(img, lab, invert_share=0.0, **kw)
    dark = make_canvas(img, lab, invert_share=1.0, **kw)
    assert not bright["inverted"].any() and dark["inverted"].all()
    for r, obj_value in ((bright, 1.0), (dark, 0.0)):
        t, l, b, rr = (int(v) for v in r["boxes"][0, 0])
        assert torch.all(r["x"][0, 0, t:b, l:rr] == obj_value)
        assert (float(r["x"][0, 0, 0, 0]) < 0.5) == (obj_value == 1.0)


def test_two_objects_do_not_overlap_and_differ_in_class():
    img, lab = _squares(n=9)
    r = make_canvas(img, lab, n=10, size=64, scale=(0.8, 1.1), objects=2, seed=4)
    assert r["boxes"].shape == (10, 2, 4)
    for i in range(10):
        (t0, l0, b0, r0), (t1, l1, b1, r1) = r["boxes"][i].tolist()
        assert b0 <= t1 or b1 <= t0 or r0 <= l1 or r1 <= l0
        assert r["labels"][i, 0] != r["labels"][i, 1]


def test_clutter_and_noise_stay_in_range_and_bad_input_is_refused():
    img, lab = _squares()
    r = make_canvas(img, lab, n=4, clutter=10, noise=0.2, seed=5)
    assert r["x"].shape == (4, 1, 56, 56) and float(r["x"].min()) >= 0.0 and float(r["x"].max()) <= 1.0
    with pytest.raises(ValueError, match="do not fit"):
        make_canvas(img, lab, n=1, size=30, scale=(1.0, 1.2))
    with pytest.raises(ValueError, match="grey source images"):
        make_canvas(img[:, 0], lab, n=1)
    with pytest.raises(ValueError, match="two classes"):
        make_canvas(img, torch.zeros(len(img), dtype=torch.long), n=1, objects=2, size=64, scale=(0.8, 1.1))


# --- ImageNet / PASCAL VOC bounding boxes (the paper profile's boxes) -------------------------------------------

_XML = """<annotation><filename>{stem}</filename>
<size><width>{w}</width><height>{h}</height><depth>3</depth></size>
{objects}</annotation>"""
_OBJ = "<object><name>n01440764</name><bndbox><xmin>{}</xmin><ymin>{}</ymin><xmax>{}</xmax><ymax>{}</ymax></bndbox></object>"


def _write(path, stem, w, h, boxes):
    path.write_text(_XML.format(stem=stem, w=w, h=h, objects="".join(_OBJ.format(*b) for b in boxes)))


def test_read_box_xml_and_the_crop_on_known_boxes(tmp_path):
    from rilib.data.boxes import crop_box, read_box_xml

    _write(tmp_path / "a.xml", "a", 400, 200, [(10, 20, 109, 59), (0, 0, 3, 3)])
    ann = read_box_xml(tmp_path / "a.xml")
    assert (ann["width"], ann["height"]) == (400, 200)
    assert [o["box"] for o in ann["objects"]] == [(10, 20, 109, 59), (0, 0, 3, 3)]
    assert ann["objects"][0]["name"] == "n01440764"
    # square image, size = its side: the box is the same pixels, bottom/right exclusive
    assert crop_box((10, 20, 109, 59), 200, 200, 200) == (20, 10, 60, 110)
    # 400 × 200 → shorter side 100 (×0.5), the centre crop drops 50 px on the left: columns 10..89 → 5..45 − 50
    # → out of the crop; columns 10..109 → 5..55 − 50 → the first 5 columns remain
    assert crop_box((10, 20, 89, 59), 400, 200, 100) is None
    assert crop_box((10, 20, 109, 59), 400, 200, 100) == (10, 0, 30, 5)
    # columns 200..299 → 100..150 − 50 = 50..100, rows 20..59 → 10..30
    assert crop_box((200, 20, 299, 59), 400, 200, 100) == (10, 50, 30, 100)
    # a box larger than the crop is clipped to it
    assert crop_box((0, 0, 399, 199), 400, 200, 100) == (0, 0, 100, 100)


def test_boxes_for_images_finds_both_layouts_and_names_what_is_missing(tmp_path):
    from rilib.data import DataFormatError, DataNotFoundError
    from rilib.data.boxes import boxes_for_images

    boxes = tmp_path / "boxes"
    (boxes / "n01440764").mkdir(parents=True)
    _write(boxes / "img1.xml", "img1", 100, 100, [(10, 10, 19, 29), (50, 50, 59, 59)])  # flat (val) layout
    _write(boxes / "n01440764" / "img2.xml", "img2", 100, 100, [(0, 0, 49, 49)])  # per-class layout
    imgs = [tmp_path / "n01440764" / "img1.JPEG", tmp_path / "n01440764" / "img2.JPEG"]
    out = boxes_for_images(imgs, boxes, size=100)
    np.testing.assert_array_equal(out, [[10, 10, 60, 60], [0, 0, 50, 50]])  # two objects: their union
    with pytest.raises(DataNotFoundError, match="img3.JPEG"):
        boxes_for_images(imgs + [tmp_path / "n01440764" / "img3.JPEG"], boxes, size=100)
    with pytest.raises(DataNotFoundError, match="box folder"):
        boxes_for_images(imgs, tmp_path / "nowhere")
    (boxes / "img1.xml").write_text("<annotation><size><width>x</width>")
    with pytest.raises(DataFormatError, match="img1.xml"):
        boxes_for_images(imgs, boxes, size=100)


def test_read_box_xml_refuses_entity_expansion(tmp_path):
    from rilib.data import DataFormatError
    from rilib.data.boxes import read_box_xml

    bomb = ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxxxx"><!ENTITY y "&x;&x;&x;&x;&x;">]>'
            "<annotation><size><width>&y;</width><height>1</height></size></annotation>")
    (tmp_path / "bomb.xml").write_text(bomb)
    with pytest.raises(DataFormatError, match="bomb.xml"):
        read_box_xml(tmp_path / "bomb.xml")
