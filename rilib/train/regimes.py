"""Training regimes: each is a loss function ``regime(model, x, y, *extra) -> (loss, logits)``.

:class:`CrossEntropy`        standard training
:class:`DoubleBackprop`      Drucker & LeCun (1992), as used by Etmann et al. (2019), Sec 4
:class:`Adversarial`         PGD adversarial training (Madry et al. 2018), L2 / L∞, CE or CW objective, as in
                             Kim et al. (2019) (adversarial-only batches) and Noack et al. (2021) (random start)
:class:`JacobianReg`         Frobenius-norm Jacobian regularisation, Noack et al. (2021) eq. (7)
:class:`InterpretationReg`   interpretation regularisation, Noack et al. (2021) eq. (3)
:class:`VAEGAN`              VAE-GAN with L1 reconstruction (Kim et al. 2019 appendix A.3): the discriminator step
                             inside the call, the encoder + decoder loss returned

All gradient penalties use :func:`rilib.gradients.input_grad` with ``create_graph=True`` (Captum's gradient helper
does not build a graph, so it cannot sit inside a loss).
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks import pgd
from ..attacks.result import frozen
from ..gradients import input_grad

__all__ = ["CrossEntropy", "DoubleBackprop", "Adversarial", "JacobianReg", "InterpretationReg"]


@dataclass(frozen=True)
class CrossEntropy:
    """Standard training: mean cross-entropy."""

    def __call__(self, model, x, y, *extra):
        logits = model(x)
        return F.cross_entropy(logits, y), logits


@dataclass(frozen=True)
class DoubleBackprop:
    """Cross-entropy + ``lam`` · mean_i ‖∇ₓ ℓ(x_i, y_i)‖², Etmann et al. (2019) Sec 4 loss.

    ``lam`` is **per example**: the gradient of each example's own loss. Etmann et al.'s code penalises the
    gradient of the *batch-mean* loss, so each example's gradient carries 1/B and their λ corresponds to
    ``lam = λ_paper / B²``; use :meth:`from_paper` to convert (B = 100: λ_paper 10 … 180 000 ↔ lam 1e-3 … 18).
    """

    lam: float

    @classmethod
    def from_paper(cls, lam_paper: float, *, batch_size: int = 100) -> "DoubleBackprop":
        return cls(lam=lam_paper / batch_size**2)

    def __call__(self, model, x, y, *extra):
        if self.lam == 0:
            logits = model(x)
            return F.cross_entropy(logits, y), logits
        g, logits = input_grad(model, x, y, objective="loss", create_graph=True, return_logits=True, strict=False)
        return F.cross_entropy(logits, y) + self.lam * g.flatten(1).pow(2).sum(1).mean(), logits


@dataclass(frozen=True)
class Adversarial:
    """PGD adversarial training: the loss on adversarial examples of the batch (Madry et al. 2018).

    ``adversarial_only=True`` trains on the adversarial examples alone (Kim et al.; Noack et al. "used in place of
    the original samples"); ``False`` averages clean and adversarial loss. The attack is generated with the model in
    eval mode (dropout off, BatchNorm running statistics untouched) and the mode is restored for the update.
    """

    eps: float
    norm: Literal["l2", "linf"] = "l2"
    steps: int = 40
    step_size: float | None = None
    loss: Literal["ce", "cw"] = "ce"
    random_start: bool = False
    adversarial_only: bool = True
    bounds: tuple[float, float] = (0.0, 1.0)

    def __call__(self, model, x, y, *extra):
        was_training = model.training
        model.eval()
        x_adv = pgd(model, x, y, eps=self.eps, norm=self.norm, steps=self.steps, step_size=self.step_size,
                    loss=self.loss, random_start=self.random_start, bounds=self.bounds)
        model.train(was_training)
        logits_adv = model(x_adv)
        loss = F.cross_entropy(logits_adv, y)
        if self.adversarial_only:
            return loss, logits_adv
        logits = model(x)
        return 0.5 * (loss + F.cross_entropy(logits, y)), logits


@dataclass(frozen=True)
class JacobianReg:
    """Cross-entropy + ``lam`` · ‖J(x)‖_F, Noack et al. (2021) eq. (7) (``squared=True``: ‖J‖²_F, Jakubovitz & Giryes).

    J is the Jacobian of the logits w.r.t. the input, computed exactly with one backward pass per class
    (``projections=None``), or estimated from ``projections`` random directions per example (Hoffman et al. 2019):
    ‖J‖²_F = C · E_v ‖vᵀJ‖² for v uniform on the unit sphere of the C logits, one backward pass per direction —
    unbiased for ‖J‖²_F; its square root (the unsquared norm) is biased low by the estimate's spread.
    """

    lam: float
    squared: bool = False
    projections: int | None = None

    def __call__(self, model, x, y, *extra):
        if self.projections is None:
            jac, logits = input_grad(model, x, "all", create_graph=True, return_logits=True, strict=False)
            sq = jac.flatten(1).pow(2).sum(1)  # ‖J(x)‖²_F, one backward pass per class
        else:
            if self.projections < 1:
                raise ValueError(f"JacobianReg: projections must be >= 1 or None (exact), got {self.projections}")
            x = x.detach().requires_grad_(True)
            logits = model(x)
            n_cls = logits.shape[1]
            sq = torch.zeros(x.shape[0], device=x.device, dtype=logits.dtype)
            for _ in range(self.projections):
                v = torch.randn_like(logits)
                v = v / v.norm(dim=1, keepdim=True)
                (g,) = torch.autograd.grad((logits * v).sum(), x, create_graph=True)  # vᵀJ per example
                sq = sq + g.flatten(1).pow(2).sum(1) * n_cls / self.projections
        pen = sq if self.squared else sq.clamp_min(1e-12).sqrt()
        return F.cross_entropy(logits, y) + self.lam * pen.mean(), logits


@dataclass(frozen=True)
class InterpretationReg:
    """Cross-entropy + ``lam`` · ‖I(x) − ∇ₓ z_y(x)‖₂, Noack et al. (2021) eq. (3).

    The target interpretation I(x) comes as the first *extra* tensor of each batch (same shape as x). The norm is
    not squared, as in eq. (3) and the authors' code. ``absolute=True`` compares with |∇ₓ z_y| (the code; targets
    are absolute SmoothGrad maps, eq. (4)).
    """

    lam: float
    absolute: bool = True

    def __call__(self, model, x, y, *extra):
        if not extra:
            raise ValueError("InterpretationReg needs target interpretations: fit(..., extras=(targets,))")
        target = extra[0]
        g, logits = input_grad(model, x, y, create_graph=True, return_logits=True, strict=False)
        if self.absolute:
            g = g.abs()
        pen = (g - target).flatten(1).norm(dim=1)
        return F.cross_entropy(logits, y) + self.lam * pen.mean(), logits


@contextmanager
def _frozen(module: nn.Module):
    """Inside the block ``module``'s parameters take no gradient (:func:`rilib.attacks.result.frozen`) and its
    BatchNorm layers normalise with the batch's statistics without updating their running averages
    (``track_running_stats`` off for the block): a forward pass through ``module`` leaves its state exactly as it
    was."""
    bns = [(m, m.track_running_stats) for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m, _ in bns:
        m.track_running_stats = False
    try:
        with frozen(module):
            yield module
    finally:
        for m, t in bns:
            m.track_running_stats = t


@dataclass(frozen=True)
class VAEGAN:
    """VAE-GAN training (Larsen et al. 2016) with an L1 reconstruction, as in Kim et al. (2019) appendix A.3.

    For a model with ``encoder``, ``decoder`` and ``discriminator`` (:class:`rilib.models.KimVAEGAN`), one call
    on a batch x (B images):

    1. encoder → (μ, log σ²); z = μ + σ·ε; z_p ~ N(0, I); one decoder pass over [z; z_p] (its BatchNorm sees
       both) → reconstructions x̃ and samples x_p;
    2. **discriminator step** (:meth:`discriminator_step`, its own Adam, once per batch): BCE(D(x), real) +
       BCE(D(x̃), fake) + BCE(D(x_p), fake), on the detached x̃, x_p; real and fake batches go through D's
       BatchNorm separately (DCGAN practice);
    3. returns the **encoder + decoder loss** for :func:`rilib.train.fit`'s optimizer:
       Σ_pixels |x − x̃| + ``kl_weight``·KL(q(z|x) ‖ N(0, I)) + ``adv_weight``·[BCE(D(x̃), real) + BCE(D(x_p), real)]
       (per-image sums, batch means). D enters this loss through the step-2-updated D, *frozen*: no gradient
       reaches its parameters and its BatchNorm running statistics are not updated (batch statistics are used).

    :meth:`trainable` tells ``fit`` to optimise only the encoder and decoder, so D changes only in step 2. The
    returned "logits" make fit's training accuracy the fraction of the batch's real images that D (before its
    update) calls real. ε and z_p come from torch's global generator, which ``fit`` seeds: the same seed gives the
    same model on the CPU. The D optimizer is made on a model's first batch (kept per model, not part of the
    regime's equality or hash); ``lr`` and ``betas`` default to the paper's 5e-4, (0.5, 0.999).

    Differences from Larsen et al.: L1 replaces their discriminator-feature reconstruction loss (Kim et al.), and
    one loss trains encoder and decoder together, so the adversarial term also reaches the encoder through x̃.
    """

    kl_weight: float = 1.0
    adv_weight: float = 1.0
    lr: float = 5e-4
    betas: tuple[float, float] = (0.5, 0.999)
    _d_opt: "weakref.WeakKeyDictionary" = field(default_factory=lambda: weakref.WeakKeyDictionary(), init=False,
                                                repr=False, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))

    @staticmethod
    def _parts(model: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module]:
        missing = [n for n in ("encoder", "decoder", "discriminator")
                   if not isinstance(getattr(model, n, None), nn.Module)]
        if missing:
            raise TypeError(f"VAEGAN regime needs a model with encoder, decoder and discriminator submodules "
                            f"(e.g. rilib.models.KimVAEGAN); {type(model).__name__} lacks {', '.join(missing)}")
        return model.encoder, model.decoder, model.discriminator

    def trainable(self, model: nn.Module) -> list[nn.Parameter]:
        """The parameters ``fit``'s optimizer updates: the encoder's and the decoder's (not the discriminator's)."""
        enc, dec, _ = self._parts(model)
        return [*enc.parameters(), *dec.parameters()]

    def d_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """The discriminator's own Adam for ``model`` (made on first use)."""
        opt = self._d_opt.get(model)
        if opt is None:
            opt = torch.optim.Adam(self._parts(model)[2].parameters(), lr=self.lr, betas=self.betas)
            self._d_opt[model] = opt
        return opt

    def discriminator_step(self, model: nn.Module, x: torch.Tensor, x_rec: torch.Tensor,
                           x_prior: torch.Tensor) -> torch.Tensor:
        """One update of D on real ``x`` vs the (detached) fakes; returns D's logits on ``x`` before the update."""
        disc = self._parts(model)[2]
        opt = self.d_optimizer(model)
        fake = torch.cat([x_rec, x_prior]).detach()
        d_real = disc(x)
        d_fake = disc(fake)
        b = x.shape[0]
        loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                + F.binary_cross_entropy_with_logits(d_fake[:b], torch.zeros_like(d_real))
                + F.binary_cross_entropy_with_logits(d_fake[b:], torch.zeros_like(d_fake[b:])))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return d_real.detach()

    def __call__(self, model, x, y, *extra):
        enc, dec, disc = self._parts(model)
        mu, logvar = enc(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        z_p = torch.randn_like(mu)
        b = x.shape[0]
        out = dec(torch.cat([z, z_p]))
        x_rec, x_prior = out[:b], out[b:]
        d_real = self.discriminator_step(model, x, x_rec, x_prior)
        with _frozen(disc):
            d_gen = disc(out)
        adv = (F.binary_cross_entropy_with_logits(d_gen[:b], torch.ones_like(d_gen[:b]))
               + F.binary_cross_entropy_with_logits(d_gen[b:], torch.ones_like(d_gen[b:])))
        rec = (x_rec - x).abs().flatten(1).sum(1).mean()
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
        loss = rec + self.kl_weight * kl + self.adv_weight * adv
        return loss, _indicator_logits(d_real > 0, y)


def _indicator_logits(ok: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Logits whose argmax is ``y[i]`` exactly where ``ok[i]`` (so fit's "accuracy" counts ``ok``)."""
    k = max(2, int(y.max()) + 1) if y.numel() else 2
    onehot = F.one_hot(y, k).float()
    return torch.where(ok.unsqueeze(1), onehot, -onehot)


__all__ += ["VAEGAN"]
