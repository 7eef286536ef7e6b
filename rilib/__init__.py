"""rilib — the shared library of the robustness ↔ interpretability book.

Modules
-------
profiles   the one table of sizes (``ci`` / ``default`` / ``paper``)
data       offline dataset loaders (MNIST, Fashion-MNIST, CIFAR-10, image folders, toys)
models     the papers' architectures
train      one training loop; regimes are loss functions
zoo        train-or-load cache of models, keyed by a hash of their spec
attacks    one attack entry point (Foolbox 3 + an in-house PGD used for training)
geometry   batched α, α†, ρ̃, β and the bound terms of Etmann et al. (2019)
results    recorded numbers and the claims ledger
plotting   one figure style
runner     papermill over all notebooks, then Jupyter Book
"""
from __future__ import annotations

import os as _os

# Foolbox imports GitPython, which otherwise needs the `git` program on PATH.
_os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
# Takes effect only if rilib is imported before torch (the runner and `make` also set it for notebook kernels):
# spinning OpenMP threads make small torch ops ~100x slower when another process shares the CPU.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
