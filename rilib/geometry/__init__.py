"""Local geometry of classifiers: Etmann et al.'s α, α†, ρ̃, β and bound terms, affine toys, 2-D boundaries.

``kernel``    batched α, α†, ρ̃, β and the terms of Theorems 1–3 (:func:`geometry`, :func:`bias_term`)
``affine``    binary affine toy classifier and the exact distance of any affine classifier (Sec 2.1, Lemma 1)
``boundary``  decision boundaries of 2-class networks (Kim et al. 2019, Fig 3)
"""
from .affine import AffineBinary, affine_distance
from .boundary import boundary_points, boundary_tilt, decision_grid, principal_directions
from .kernel import Geometry, bias_names, bias_term, class_gradients, geometry, homogeneous_copy

__all__ = ["Geometry", "bias_names", "bias_term", "class_gradients", "geometry", "homogeneous_copy",
           "AffineBinary", "affine_distance", "boundary_points", "boundary_tilt", "decision_grid",
           "principal_directions"]
