"""The two-Gaussian toy problem of Kim, Seo and Jeon (2019), generated on the fly."""
from __future__ import annotations

import numpy as np
import torch

from .container import Dataset

__all__ = ["GAUSSIAN_TOY_COV", "GAUSSIAN_TOY_MEANS", "make_gaussian_toy"]

#: Class means of the Gaussian toy (Kim et al. 2019, Fig. 3), rows = class 0, class 1.
GAUSSIAN_TOY_MEANS: np.ndarray = np.array([[-1.2, -0.1], [1.2, 0.1]], dtype=np.float64)
#: Shared covariance of the Gaussian toy (as in the authors' code; see :func:`make_gaussian_toy`).
GAUSSIAN_TOY_COV: np.ndarray = np.array([[0.1, -0.01], [-0.01, 0.002]], dtype=np.float64)
GAUSSIAN_TOY_MEANS.setflags(write=False)
GAUSSIAN_TOY_COV.setflags(write=False)


# --------------------------------------------------------------------------------------------
# Gaussian toy
# --------------------------------------------------------------------------------------------
def make_gaussian_toy(*, n_per_class: int = 3000, n_test_per_class: int = 1000, seed: int = 0) -> Dataset:
    """The two-Gaussian toy problem of Kim, Seo and Jeon (2019), Fig. 3 / appendix A.1.

    Class 0 ("class 1" in the paper) is drawn from N(μ₀, Σ) and class 1 ("class 2") from
    N(μ₁, Σ) with μ₀ = (−1.2, −0.1), μ₁ = (1.2, 0.1) and Σ = [[0.1, −0.01], [−0.01, 0.002]]
    (:data:`GAUSSIAN_TOY_MEANS`, :data:`GAUSSIAN_TOY_COV`). The training points of class 0,
    then of class 1, then the test points of class 0 and class 1 are drawn in that order from
    one ``numpy.random.default_rng(seed)``; each split is ordered by class.

    All points are then divided by one global factor ``s``, the largest absolute coordinate of
    the training points, so the training data lie in [−1, 1]² while the geometry (aspect ratio,
    the low-variance direction) is preserved. ``s`` is stored in ``meta["scale"]`` and in the
    description. ``bounds`` is (−3, 3): wide enough that attacks on the toy are not clipped.

    Parameters
    ----------
    n_per_class : int
        Training points per class.
    n_test_per_class : int
        Test points per class.
    seed : int
        Seed of the generator.

    Returns
    -------
    Dataset
        float32 inputs of shape ``(N, 2)``; classes ``("class 1", "class 2")``.

    Notes
    -----
    The paper's appendix prints Σ₂₂ = 0.0002, which makes Σ indefinite
    (det = 0.1·0.0002 − 0.01² < 0, so it is no covariance), and prints both means as
    (1.2, 0.1). Both are typos: the authors' code uses Σ₂₂ = 0.002 and means ±(1.2, 0.1).
    We follow the code.
    """
    if n_per_class < 1 or n_test_per_class < 0:
        raise ValueError(f"need n_per_class >= 1 and n_test_per_class >= 0, got {n_per_class}, {n_test_per_class}")
    rng = np.random.default_rng(seed)
    mu, cov = np.asarray(GAUSSIAN_TOY_MEANS), np.asarray(GAUSSIAN_TOY_COV)
    train = [rng.multivariate_normal(mu[c], cov, size=n_per_class) for c in (0, 1)]
    test = [rng.multivariate_normal(mu[c], cov, size=n_test_per_class) for c in (0, 1)]
    x_train, x_test = np.concatenate(train), np.concatenate(test)
    scale = float(np.abs(x_train).max())
    labels = lambda n: torch.repeat_interleave(torch.tensor([0, 1]), n)  # noqa: E731
    return Dataset(
        name="gaussian-toy",
        x_train=torch.from_numpy(x_train / scale).to(torch.float32),
        y_train=labels(n_per_class),
        x_test=torch.from_numpy(x_test / scale).to(torch.float32),
        y_test=labels(n_test_per_class),
        classes=("class 1", "class 2"),
        bounds=(-3.0, 3.0),
        source="generated",
        description=(
            f"Gaussian toy (Kim et al. 2019, Fig. 3): 2 classes, {n_per_class} train / "
            f"{n_test_per_class} test points per class from N(±(1.2, 0.1), [[0.1, −0.01], [−0.01, 0.002]]) "
            f"(Σ and means as in the authors' code), divided by one global scale s = {scale:.6g}, seed {seed}."
        ),
        meta={"scale": scale},
    )
