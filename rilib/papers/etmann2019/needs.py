"""What each page of the chapter needs before it runs (read by the runner's preflight, :mod:`rilib.preflight`)."""
from __future__ import annotations

from .cohorts import COHORTS, specs


def needs(stem: str, profile: str) -> tuple[list, list, list]:
    """``(known specs, dependent specs, other files)`` of page ``stem``: every page but the poster's toy reads
    both cohorts."""
    if stem == "poster_toy":
        return [], [], []
    return [s for name in COHORTS for s in specs(name, profile)[0]], [], []
