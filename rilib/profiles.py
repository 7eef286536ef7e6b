"""The one table of sizes.

Every size a notebook uses (models per cohort, epochs, evaluation points, attack steps, ε grids) comes from
:data:`PROFILES`. The profile name is the only papermill parameter a reader has to know::

    papermill notebook.ipynb out.ipynb -p profile default

=========  ==========================  ===============================================================
profile    who runs it                 meaning
=========  ==========================  ===============================================================
``ci``     CI and ``pytest``           tiny sizes; proves the plumbing, asserts shapes and invariants
``default``  the README's main command   the real reproduction on embedded data, at small scale
``paper``  a GPU owner with the data   the papers' own hyper-parameters, model counts and epochs
=========  ==========================  ===============================================================
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["PROFILES", "PROFILE_NAMES", "get", "table_markdown"]

PROFILE_NAMES = ("ci", "default", "paper")

#: section -> key -> {profile: value}. Written this way so that one row shows all three scales side by side.
_TABLE: dict[str, dict[str, dict[str, Any]]] = {
    # Kim et al. 2019, Fig 3b: 2-D Gaussians, MLP 2-128-2 (appendix A.1/A.2, code-notes).
    "kim_toy": {
        "n_per_class": {"ci": 600, "default": 3000, "paper": 3000},
        "n_test_per_class": {"ci": 200, "default": 1000, "paper": 1000},
        "epochs": {"ci": 3, "default": 10, "paper": 10},
        "batch_size": {"ci": 100, "default": 100, "paper": 100},
        "train_eps": {"ci": [0.25, 0.5], "default": [0.25, 0.5], "paper": [0.25, 0.5]},
        "train_steps": {"ci": 10, "default": 40, "paper": 40},
        "attack_eps": {"ci": 1.0, "default": 1.0, "paper": 1.0},
        "attack_steps": {"ci": 10, "default": 40, "paper": 40},
        "n_attacked": {"ci": 100, "default": 300, "paper": 1000},
        "grid": {"ci": 120, "default": 400, "paper": 600},
        "seeds": {"ci": [0], "default": [0, 1, 2], "paper": [0, 1, 2, 3, 4]},
    },
    # Etmann et al. 2019 poster, "a simple toy example": linear and affine binary classifiers.
    "etmann_toy": {
        "dim": {"ci": 16, "default": 784, "paper": 784},
        "n_points": {"ci": 64, "default": 1000, "paper": 1000},
        "n_attacked": {"ci": 32, "default": 200, "paper": 1000},
        "attack_steps": {"ci": 50, "default": 100, "paper": 1000},
    },
}


class Profile(Mapping[str, Any]):
    """Read-only view of one profile: ``p["kim_toy"]["epochs"]`` or ``p.kim_toy.epochs``."""

    def __init__(self, name: str, values: dict[str, Any]):
        self._name = name
        self._values = values

    @property
    def name(self) -> str:
        return self._name

    def __getitem__(self, key: str) -> Any:
        v = self._values[key]
        return Profile(f"{self._name}.{key}", v) if isinstance(v, dict) else copy.deepcopy(v)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"profile {self._name!r} has no entry {key!r}") from None

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._values)

    def __repr__(self) -> str:
        return f"Profile({self._name!r})"


def _build() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {p: {} for p in PROFILE_NAMES}
    for section, rows in _TABLE.items():
        for key, per_profile in rows.items():
            missing = set(PROFILE_NAMES) - set(per_profile)
            if missing:  # pragma: no cover - guarded by tests
                raise RuntimeError(f"profile table {section}.{key} lacks {sorted(missing)}")
            for p in PROFILE_NAMES:
                out[p].setdefault(section, {})[key] = per_profile[p]
    return out


PROFILES: dict[str, dict[str, Any]] = _build()


def get(name: str) -> Profile:
    """The profile called ``name`` (``ci``, ``default`` or ``paper``)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: choose one of {', '.join(PROFILE_NAMES)}")
    return Profile(name, PROFILES[name])


def table_markdown(section: str | None = None, *, highlight: str | None = None) -> str:
    """The profile table (or one section of it) as a Markdown table, the active profile in bold."""
    lines = ["| setting | " + " | ".join(f"**{p}**" if p == highlight else p for p in PROFILE_NAMES) + " |",
             "|---|" + "---|" * len(PROFILE_NAMES)]
    for sec, rows in _TABLE.items():
        if section is not None and sec != section:
            continue
        for key, per_profile in rows.items():
            cells = [f"**{per_profile[p]}**" if p == highlight else str(per_profile[p]) for p in PROFILE_NAMES]
            lines.append(f"| `{sec}.{key}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
