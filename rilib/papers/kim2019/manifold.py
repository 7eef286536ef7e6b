"""Kim et al. (2019), Figs 1 and 2: the VAE-GAN image-manifold proxy and the distance d_π to it.

Sec 2.1 of the paper projects an image x onto the approximated image manifold with a VAE-GAN (Larsen et al.
2016), π(x) = dec(enc(x)), and measures d_π(x) = ‖x − π(x)‖₂. The VAE-GAN (appendix A.3): encoder Conv4×4/2 64,
128, 256 with BN, Dense(2·z) BN; decoder and discriminator of Larsen et al.; an L1 reconstruction loss instead of
Larsen's discriminator features; z = 10, Adam 5e-4 (0.5, 0.999), one discriminator update per encoder / decoder
update, 30 epochs (MNIST) and 60 (Fashion-MNIST). Here it is :class:`rilib.models.KimVAEGAN`, trained by
:func:`rilib.train.fit` with the :class:`rilib.train.regimes.VAEGAN` regime and cached by :func:`rilib.zoo.get`
(:func:`vaegan_spec`).

Where we differ from the original
---------------------------------
* Data in [0, 1], not [−1, 1]: the decoder ends in a sigmoid instead of tanh (the same map, rescaled), and every
  d_π is half the value it would have in the paper's scale (d_π is a length; Fig 1's axis is min–max normalised,
  so the figure does not change).
* π(x) = dec(μ(x)) by default, deterministic; the authors' code decoded a sample, dec(μ + σ·ε)
  (``stochastic=True``). Footnote 2 of the paper adds that a third definition, dec(argmin_z ‖x − dec(z)‖), gave
  the same results; it is not implemented.
* The decoder is built for 28×28 images (see :class:`rilib.models.KimVAEGANDecoder`); the default profile trains
  a narrower network on fewer images for fewer epochs (the profile table's ``kim_vaegan``).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ... import profiles, zoo

__all__ = ["vaegan_spec", "manifold_distance", "reconstruct", "sample"]

#: the paper's optimizer for the MNIST / Fashion-MNIST VAE-GAN (appendix A.3), for both of its optimizers
_ADAM = {"name": "adam", "lr": 5e-4, "betas": [0.5, 0.999]}


def _dataset_name(dataset: str) -> str:
    name = dataset.strip().lower().replace("_", "-")
    if name not in ("mnist", "fashion-mnist"):
        raise ValueError(f"the Kim et al. VAE-GAN is defined here for 'mnist' and 'fashion-mnist', not {dataset!r} "
                         "(the CIFAR-10 VAE-GAN of the paper is not built)")
    return name


def vaegan_spec(dataset: str, profile: str, *, seed: int = 0) -> zoo.ModelSpec:
    """The zoo spec of the VAE-GAN for ``dataset`` (``"mnist"`` or ``"fashion-mnist"``) at ``profile``.

    Sizes from the profile table (``kim_vaegan``); optimizer Adam 5e-4, betas (0.5, 0.999) for encoder + decoder (fit's) and
    discriminator (the regime's), as in appendix A.3. The batch size is not given in the paper (100, as for the
    classifiers).
    """
    name = _dataset_name(dataset)
    S = profiles.get(profile).kim_vaegan
    n_train = S.n_train.to_dict()[name]
    data_kwargs = {} if n_train is None else {"n_train": n_train}
    return zoo.ModelSpec(
        dataset=name, arch="kim_vaegan", regime="vaegan", epochs=S.epochs.to_dict()[name], seed=seed, profile=profile,
        batch_size=S.batch_size, data_kwargs=data_kwargs, arch_kwargs={"z_dim": S.z, "width": S.width},
        regime_kwargs={"lr": _ADAM["lr"], "betas": list(_ADAM["betas"])},
        optimizer={**_ADAM, "betas": list(_ADAM["betas"])},
    )


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _check(vaegan: nn.Module, x: torch.Tensor, batch_size: int) -> None:
    if not (hasattr(vaegan, "encoder") and hasattr(vaegan, "decoder")):
        raise TypeError(f"expected a VAE-GAN with encoder and decoder submodules, got {type(vaegan).__name__}")
    if x.dim() < 2:
        raise ValueError(f"x must be a batch (dim 0), got shape {tuple(x.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")


def _project(vaegan: nn.Module, x: torch.Tensor, stochastic: bool, generator: torch.Generator | None,
             batch_size: int):
    """Yield ``(slice, x_batch_on_device, π(x_batch))``; ε for the whole of ``x`` is drawn first (CPU, from
    ``generator`` or torch's global generator), so the result does not depend on ``batch_size``."""
    _check(vaegan, x, batch_size)
    dev = _device(vaegan)
    was_training = vaegan.training
    vaegan.eval()
    try:
        with torch.no_grad():
            eps = None
            if stochastic:
                z_dim = getattr(vaegan, "z_dim", None) or vaegan.encoder(x[:1].to(dev))[0].shape[1]
                eps = torch.randn(x.shape[0], z_dim, generator=generator)
            for i in range(0, x.shape[0], batch_size):
                sl = slice(i, i + batch_size)
                xb = x[sl].to(dev)
                mu, logvar = vaegan.encoder(xb)
                z = mu if eps is None else mu + torch.exp(0.5 * logvar) * eps[sl].to(dev, mu.dtype)
                yield sl, xb, vaegan.decoder(z)
    finally:
        vaegan.train(was_training)


def manifold_distance(vaegan: nn.Module, x: torch.Tensor, *, stochastic: bool = False,
                      generator: torch.Generator | None = None, batch_size: int = 500) -> torch.Tensor:
    """d_π(x) = ‖x − dec(enc(x))‖₂ per image, Kim et al. (2019) Sec 2.1 (Fig 1).

    Parameters
    ----------
    vaegan
        A trained :class:`rilib.models.KimVAEGAN` (any module with ``encoder`` x ↦ (μ, log σ²) and ``decoder``
        z ↦ x̂); used in eval mode (BatchNorm running statistics), its mode is restored afterwards.
    x
        Images, dim 0 the batch, in the VAE-GAN's data range ([0, 1] here; half the paper's [−1, 1] lengths).
    stochastic
        ``False`` (default): π(x) = dec(μ(x)). ``True``: π(x) = dec(μ + σ·ε), ε ~ N(0, I), as the authors' code.
    generator
        CPU generator for ε (``stochastic=True``); ``None`` uses torch's global generator. ε for all of ``x`` is
        drawn at once, so a result never depends on ``batch_size``.
    batch_size
        Images per forward pass (on the model's device, no gradient).

    Returns
    -------
    Tensor
        Shape ``(len(x),)``, on ``x``'s device.

    Examples
    --------
    >>> d_test = manifold_distance(vaegan, ds.x_test)          # doctest: +SKIP
    >>> d_adv = manifold_distance(vaegan, x_adv[success])     # doctest: +SKIP
    """
    out = torch.empty(x.shape[0], dtype=x.dtype)
    for sl, xb, proj in _project(vaegan, x, stochastic, generator, batch_size):
        out[sl] = (xb - proj).flatten(1).norm(dim=1).cpu().to(x.dtype)
    return out.to(x.device)


def reconstruct(vaegan: nn.Module, x: torch.Tensor, *, stochastic: bool = False,
                generator: torch.Generator | None = None, batch_size: int = 500) -> torch.Tensor:
    """π(x) = dec(enc(x)) for images ``x`` (same options as :func:`manifold_distance`), on ``x``'s device."""
    out = torch.empty_like(x, device="cpu")
    for sl, _, proj in _project(vaegan, x, stochastic, generator, batch_size):
        out[sl] = proj.cpu().to(x.dtype)
    return out.to(x.device)


def sample(vaegan: nn.Module, n: int, *, generator: torch.Generator, batch_size: int = 500) -> torch.Tensor:
    """``n`` images dec(z), z ~ N(0, I) drawn from the CPU ``generator`` (eval mode, no gradient); on the CPU."""
    if n < 0:
        raise ValueError(f"n must be ≥ 0, got {n}")
    if not hasattr(vaegan, "decoder"):
        raise TypeError(f"expected a VAE-GAN with a decoder submodule, got {type(vaegan).__name__}")
    z_dim = getattr(vaegan, "z_dim", None)
    if z_dim is None:
        raise TypeError("the VAE-GAN must say its latent size (attribute z_dim)")
    z = torch.randn(n, z_dim, generator=generator)
    dev = _device(vaegan)
    was_training = vaegan.training
    vaegan.eval()
    try:
        with torch.no_grad():
            parts = [vaegan.decoder(z[i:i + batch_size].to(dev)).cpu() for i in range(0, n, batch_size)]
    finally:
        vaegan.train(was_training)
    return torch.cat(parts) if parts else torch.empty(0)
