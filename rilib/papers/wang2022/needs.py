"""What each page of the chapter needs before it runs (read by the runner's preflight, :mod:`rilib.preflight`)."""
from __future__ import annotations

from ... import profiles
from ...data.container import data_root
from . import cohort, localise


def needs(stem: str, profile: str) -> tuple[list, list, list]:
    """``(known specs, dependent specs, other files)`` of page ``stem``; the localisation study's paper profile
    also needs ImageNet's box XML files and class index."""
    if stem.startswith("fig1_fig2"):
        return [], [], []
    if not (stem == "canvas" or stem.startswith(("table3", "fig7"))):
        return [cohort.spec(n, profile) for n in cohort.names(profile)], [], []
    C = profiles.get(profile).wang_canvas
    files = []
    if C.boxes_folder:
        files.append((data_root() / str(C.boxes_folder), "ImageNet bounding-box XML files of the evaluation images",
                      "put the ILSVRC box XML files (one per image, named like the image) there; see data/README.md"))
    if C.class_index:
        files.append((data_root() / str(C.class_index), "ImageNet class index (imagenet_class_index.json)",
                      "put the JSON that maps class indices to WordNet ids there; see data/README.md"))
    return [localise.spec(n, profile) for n in localise.MODELS], [], files
