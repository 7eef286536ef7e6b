"""One training loop; training regimes are loss functions.

A *regime* is a callable ``regime(model, x, y, *extra) -> (loss, logits)``: it returns the scalar loss to minimise
and the logits on which training accuracy is counted. :func:`fit` (``loop``) is the only loop; the regimes
(``regimes``) are the losses of the four papers, and the VAE-GAN of Kim et al. (2019) with its own discriminator step.
"""
from ..gradients import input_grad
from .loop import FitResult, evaluate, fit, seed_everything
from .regimes import VAEGAN, Adversarial, CrossEntropy, DoubleBackprop, InterpretationReg, JacobianReg

__all__ = [
    "input_grad", "CrossEntropy", "DoubleBackprop", "Adversarial", "JacobianReg", "InterpretationReg", "VAEGAN",
    "fit", "FitResult", "evaluate", "seed_everything",
]
