"""Kim, Seo & Jeon (2019), *Bridging Adversarial Robustness and Gradient Interpretability*.

``toy``  Fig 3b: the 2-D Gaussian toy — model specs, per-point tilt and attack measurements, claim statistics
"""
from .toy import *  # noqa: F401,F403
from .toy import __all__ as _toy_all

__all__ = [*_toy_all]
