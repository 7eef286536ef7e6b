"""rilib — the shared library of the robustness ↔ interpretability book.

Modules
-------
profiles          the one table of sizes (``ci`` / ``default`` / ``paper``)
cache             the one cache-key builder (spec, data fingerprint, code digest, versions), atomic writes, folder
data/             offline dataset loaders (MNIST, Fashion-MNIST, CIFAR-10, image folders, the Gaussian toy)
models            the papers' architectures
gradients         the one input-gradient helper (saliency, double backprop, penalties)
search            the one per-example bisection (ε searches, line searches, boundary points)
train/            one training loop (``loop``); regimes are loss functions (``regimes``)
zoo               train-or-load cache of models under rilib.cache keys; cached evaluations
attacks/          one attack entry point (Foolbox 3 + an in-house PGD used for training)
geometry/         α, α†, ρ̃, β and the bound terms of Etmann et al. (2019), affine toys, 2-D decision boundaries
evaluation/       statistics that verdicts read and their bootstrap intervals
papers/<paper>/   one folder per paper: its cohorts, jobs and claim statistics (shared modules never import it)
parallel          independent jobs in worker processes, and progress lines for the runner
results           recorded numbers and the claims ledger
plotting          one figure style
runner            papermill over all notebooks, then Jupyter Book (``python -m rilib.runner``)

Importing ``rilib`` imports none of them and changes nothing in the environment; ``from rilib import geometry``
(or ``import rilib.attacks``) loads a submodule on demand.
"""
from __future__ import annotations

__version__ = "0.1.0"
