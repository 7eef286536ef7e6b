"""One training loop; training regimes are loss functions.

A *regime* is a callable ``regime(model, x, y, *extra) -> (loss, logits)``: it returns the scalar loss to minimise
and the logits on which training accuracy is counted. :func:`fit` (``loop``) is the only loop; the regimes
(``regimes``) are the losses of the four papers.
"""
from ..gradients import input_grad
from .loop import FitResult, evaluate, fit, seed_everything
from .regimes import Adversarial, CrossEntropy, DoubleBackprop, InterpretationReg, JacobianReg

__all__ = [
    "input_grad", "CrossEntropy", "DoubleBackprop", "Adversarial", "JacobianReg", "InterpretationReg",
    "fit", "FitResult", "evaluate", "seed_everything",
]
