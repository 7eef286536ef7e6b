"""Kim, Seo & Jeon (2019), *Bridging Adversarial Robustness and Gradient Interpretability*.

``toy``       Fig 3b: the 2-D Gaussian toy — model specs, per-point tilt and attack measurements, claim statistics
``cohort``    the classifiers of Figs 1, 2, 4–6: a standard and 12 adversarially trained Kim CNNs per dataset
``manifold``  the VAE-GAN image-manifold proxy and d_π (Figs 1, 2)
``jobs``      attacks + d_π per classifier (Figs 1, 2), loss-gradient maps (Fig 6)
``roar_kar``  ROAR / KAR of the loss gradient and gradient × input (Figs 4, 5)
``checks``    the accuracy table and the check of the default profile's training cuts
``claims``    the statistics the chapter's verdicts read
"""
from .toy import *  # noqa: F401,F403
from .toy import __all__ as _toy_all

__all__ = [*_toy_all]
