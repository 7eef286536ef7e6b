"""Etmann et al. (2019), *On the Connection Between Adversarial Robustness and Saliency Map Interpretability*.

``cohorts``  the MNIST and complex (ImageNet / substitute) cohorts: specs, training, evaluation points, page text
``jobs``     cached per-model evaluations (geometry + attacks, CW check, theorem checks) run in worker processes
``claims``   the statistics the chapter's verdicts read, with bootstrap intervals over evaluation points
``checks``   the theorems page's experiments on toy classifiers and shifted inputs (Lemma 1, Def 2, Sec 3.3)
"""
from .checks import *  # noqa: F401,F403
from .checks import __all__ as _checks_all
from .claims import *  # noqa: F401,F403
from .claims import __all__ as _claims_all
from .cohorts import *  # noqa: F401,F403
from .cohorts import __all__ as _cohorts_all
from .jobs import *  # noqa: F401,F403
from .jobs import __all__ as _jobs_all

__all__ = [*_cohorts_all, *_jobs_all, *_claims_all, *_checks_all]
