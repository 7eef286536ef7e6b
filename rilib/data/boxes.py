"""Bounding boxes in the ImageNet / PASCAL VOC XML format, for the localisation study of Wang et al. (2022) on
user-supplied images (the paper: ImageNette images with ImageNet's boxes).

An annotation file looks like::

    <annotation>
      <filename>n01440764_10040</filename>
      <size><width>500</width><height>375</height><depth>3</depth></size>
      <object><name>n01440764</name>
        <bndbox><xmin>10</xmin><ymin>20</ymin><xmax>310</xmax><ymax>300</ymax></bndbox></object>
    </annotation>

:func:`read_box_xml` reads one file (with ``defusedxml``: a user file never expands entities or reaches the
network); :func:`crop_box` maps a box of the original image onto the book's image transform (shorter side
resized to ``size``, centre crop ``size × size``, as :func:`rilib.data.load_image_folder`), in the
``(top, left, bottom, right)`` convention of :mod:`rilib.evaluation.localisation` (bottom / right exclusive);
:func:`boxes_for_images` finds and converts the box of every image of a list.

ImageNet's coordinates are pixel indices with ``xmax`` / ``ymax`` inclusive (1-based or 0-based varies between
releases; the half-pixel difference is below the resize's resolution): the box covers columns xmin..xmax.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .container import DataFormatError, DataNotFoundError, PathLike

__all__ = ["read_box_xml", "crop_box", "boxes_for_images"]


def _int(node, tag: str, path: Path) -> int:
    el = node.find(tag)
    if el is None or el.text is None:
        raise DataFormatError(f"{path}: <{tag}> missing in a bounding box or size; the file is not an ImageNet / "
                              "PASCAL VOC annotation (re-download it or remove it)")
    try:
        return int(round(float(el.text.strip())))
    except ValueError:
        raise DataFormatError(f"{path}: <{tag}> is {el.text.strip()!r}, not a number") from None


def read_box_xml(path: PathLike) -> dict:
    """One annotation file: ``{"width", "height", "objects": [{"name", "box": (xmin, ymin, xmax, ymax)}]}``
    (coordinates as in the file, ``xmax`` / ``ymax`` inclusive). Raises :class:`DataFormatError` naming the file
    when it is not such an annotation."""
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    p = Path(path)
    try:
        root = ElementTree.parse(str(p)).getroot()
    except (ElementTree.ParseError, DefusedXmlException) as e:
        raise DataFormatError(f"{p}: not a readable XML annotation ({e}); re-download it or remove it") from None
    size = root.find("size")
    if root.tag != "annotation" or size is None:
        raise DataFormatError(f"{p}: no <annotation> with a <size>; expected the ImageNet / PASCAL VOC box format")
    objects = []
    for obj in root.findall("object"):
        bb = obj.find("bndbox")
        if bb is None:
            continue
        box = tuple(_int(bb, t, p) for t in ("xmin", "ymin", "xmax", "ymax"))
        if box[2] < box[0] or box[3] < box[1]:
            raise DataFormatError(f"{p}: box {box} has xmax < xmin or ymax < ymin")
        name = obj.find("name")
        objects.append({"name": (name.text or "").strip() if name is not None else "", "box": box})
    return {"width": _int(size, "width", p), "height": _int(size, "height", p), "objects": objects}


def crop_box(box: tuple[int, int, int, int], width: int, height: int, size: int) -> tuple[int, int, int, int] | None:
    """``box`` = (xmin, ymin, xmax, ymax), xmax / ymax inclusive, on a ``width`` × ``height`` image, after the
    book's transform (shorter side → ``size``, centre crop): ``(top, left, bottom, right)`` with bottom / right
    exclusive, clipped to the crop; None when nothing of the box is left in the crop."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width} × {height}")
    s = size / min(width, height)
    off_x = (width * s - size) / 2.0
    off_y = (height * s - size) / 2.0
    xmin, ymin, xmax, ymax = box
    left = math.floor(xmin * s - off_x)
    right = math.ceil((xmax + 1) * s - off_x)
    top = math.floor(ymin * s - off_y)
    bottom = math.ceil((ymax + 1) * s - off_y)
    top, left = max(top, 0), max(left, 0)
    bottom, right = min(bottom, size), min(right, size)
    if bottom <= top or right <= left:
        return None
    return top, left, bottom, right


def boxes_for_images(image_paths, boxes_root: PathLike, *, size: int = 224) -> np.ndarray:
    """The box of each image, (N, 4) ``(top, left, bottom, right)`` after the book's transform, from
    ``boxes_root/<image stem>.xml`` (ImageNet's ``Annotations/CLS-LOC/val`` layout) or
    ``boxes_root/<class folder>/<image stem>.xml`` (its ``Annotation/<wnid>`` layout). With several objects the
    union of their boxes is used (the object of the image's class: ImageNet boxes all name it). Rows of images
    with no box left in the crop are −1. Raises :class:`DataNotFoundError` listing (the first) images without an
    annotation file and where they were looked for."""
    root = Path(boxes_root).expanduser()
    if not root.is_dir():
        raise DataNotFoundError(f"box folder {root} not found: put ImageNet's bounding-box XML files there "
                                "(Annotations/CLS-LOC/val/*.xml or Annotation/<wnid>/*.xml)")
    out = np.full((len(image_paths), 4), -1, dtype=np.int64)
    missing = []
    for i, img in enumerate(image_paths):
        img = Path(img)
        cands = [root / f"{img.stem}.xml", root / img.parent.name / f"{img.stem}.xml"]
        found = next((c for c in cands if c.is_file()), None)
        if found is None:
            missing.append(f"{img.name} (looked for {cands[0]} and {cands[1]})")
            continue
        ann = read_box_xml(found)
        if not ann["objects"]:
            continue
        b = np.array([o["box"] for o in ann["objects"]])
        union = (int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max()))
        cb = crop_box(union, ann["width"], ann["height"], size)
        if cb is not None:
            out[i] = cb
    if missing:
        raise DataNotFoundError(f"{len(missing)} of {len(image_paths)} images have no box file, e.g. "
                                + "; ".join(missing[:3]))
    return out
