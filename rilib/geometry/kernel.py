r"""Batched local geometry of a classifier: α, α†, ρ̃, β and the bound terms of Etmann et al. (2019).

Notation follows Etmann, Lunz, Maass and Schönlieb, *On the Connection Between Adversarial Robustness and
Saliency Map Interpretability*, ICML 2019 (equation numbers refer to that paper). For a score function
:math:`\Psi = (\Psi^1, \dots, \Psi^n)` (the logits of ``model``) and one input :math:`x` (flattened, all norms
Euclidean over all input dimensions):

* :math:`i^* = F(x) = \arg\max_i \Psi^i(x)` (eq. 6) and the saliency map :math:`g = \nabla\Psi^{i^*}(x)`;
* the alignment :math:`\alpha(x) = |\langle x, g\rangle| / \|g\|` (eq. 7);
* the linearized robustness
  :math:`\tilde\rho(x) = \min_{j\ne i^*} (\Psi^{i^*}-\Psi^j)(x) / \|\nabla\Psi^{i^*}(x)-\nabla\Psi^j(x)\|`
  (eq. 9), :math:`j^*` its minimiser;
* the binarized saliency map :math:`g^\dagger = \nabla(\Psi^{i^*}-\Psi^{j^*})(x)` and the binarized alignment
  :math:`\alpha^\dagger(x) = |\langle x, g^\dagger\rangle| / \|g^\dagger\|` (eq. 11);
* the homogeneous decomposition (Theorem 1, eq. 13)
  :math:`\Psi^i(x) = \langle x, \nabla_x\Psi^i(x)\rangle + \beta^i(x)` with
  :math:`\beta^i(x) = \langle b, \nabla_b\Psi^i(x)\rangle`;
* the bounds of Theorem 2 (eqs. 14/15, repeated as 18/19) and Theorem 3 (eq. 16, repeated as 20).

Everything is computed for a whole batch at once: one forward pass and one backward pass per class (examples in a
batch must not interact, so BatchNorm layers have to be in eval mode). All tensors live on the input's device and
have the input's dtype.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, jvp

from ..gradients import check_batch_independent, input_grad

__all__ = [
    "Geometry",
    "bias_names",
    "bias_term",
    "class_gradients",
    "geometry",
    "homogeneous_copy",
]


# ----------------------------------------------------------------------------------------------------------------
# gradients
# ----------------------------------------------------------------------------------------------------------------
def class_gradients(
    model: nn.Module,
    x: Tensor,
    *,
    classes: Sequence[int] | Tensor | None = None,
    create_graph: bool = False,
) -> tuple[Tensor, Tensor]:
    r"""Logits and class-logit input gradients :math:`\nabla_x\Psi^c(x)` for a whole batch.

    A thin view of :func:`rilib.gradients.input_grad` (one forward pass, one backward pass of
    ``logits[:, c].sum()`` per class; exact because examples of a batch do not interact, so the model must be in
    eval mode if it contains BatchNorm layers — otherwise a ``ValueError`` is raised).

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch ``x`` of shape (B, ...) to logits of shape (B, C).
    x : Tensor
        Input batch, shape (B, ...). If ``x`` already requires grad it is used as is (so ``create_graph=True``
        keeps its graph).
    classes : sequence of int or Tensor, optional
        ``None`` (default): all C classes. A sequence / 1-D tensor of K indices: the same K classes for every
        example. A (B, K) integer tensor: per-example classes, entry ``[b, k]`` being the class whose gradient is
        returned at ``[b, k]``.
    create_graph : bool, default False
        Keep the graph of the gradients (double backpropagation). When False the returned tensors are detached.

    Returns
    -------
    logits : Tensor
        Shape (B, C).
    grads : Tensor
        Shape (B, K, \*x.shape[1:]): ``grads[b, k]`` is :math:`\nabla_x \Psi^{c_{bk}}(x_b)`, the saliency map of
        Definition 3 / eq. (7) for the predicted class.
    """
    if classes is None:
        target = "all"
    else:
        target = torch.as_tensor(classes, device=x.device)
        if target.dim() == 0:
            target = target.reshape(1)
        if target.dim() == 1:  # K classes for every example (input_grad reads a length-B vector per example)
            target = target.unsqueeze(0).expand(x.shape[0], -1)
    grads, logits = input_grad(model, x, target, create_graph=create_graph, return_logits=True, per_column=True)
    return logits, grads


def bias_names(model: nn.Module) -> list[str]:
    """Names of the tensors that count as the bias vector ``b`` of Theorem 1 (eq. 13).

    These are every parameter whose last name component ends in ``bias`` (dense / convolution biases, BatchNorm
    shifts, ...) and every BatchNorm ``running_mean`` buffer: as noted below Theorem 1, the running means of batch
    normalization are biases too (in eval mode a BatchNorm layer computes ``γ (x − μ) / σ + β``, affine in ``x``
    with bias ``β − γ μ / σ``).

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    list of str
        Fully qualified names usable with :func:`torch.func.functional_call`.
    """
    names = [n for n, _ in model.named_parameters() if n.rsplit(".", 1)[-1].endswith("bias")]
    for mname, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            names.append(f"{mname}.running_mean" if mname else "running_mean")
    return names


def bias_term(
    model: nn.Module,
    x: Tensor,
    *,
    names: Iterable[str] | None = None,
    method: Literal["reverse", "forward"] = "reverse",
) -> Tensor:
    r"""Bias term :math:`\beta^i(x) = \langle b, \nabla_b\Psi^i(x)\rangle` of Theorem 1 (eq. 13), from the parameters.

    It is computed directly, not as the remainder :math:`\Psi^i(x) - \langle x, \nabla_x\Psi^i(x)\rangle`: with all
    biases scaled by a scalar :math:`t`,

    .. math:: \beta^i(x) = \frac{d}{dt}\, \Psi^i(x;\ \Theta,\ t\,b)\Big|_{t=1},

    evaluated with :func:`torch.func.functional_call`. PyTorch's batch-norm kernel accepts no gradient or tangent for
    ``running_mean``, so the scaling :math:`\mu \to t\mu` of a BatchNorm layer is applied as the exact output
    correction :math:`\mathrm{BN}(z; t\mu) = \mathrm{BN}(z; \mu) + (1-t)\, w\mu/\sqrt{v+\epsilon}` (a temporary
    forward hook) instead; every other bias tensor is replaced by ``t * b`` in the functional call. Comparing this
    with the remainder is an exact test of Theorem 1 for networks of the class :math:`\mathcal N` (affine layers,
    ReLU / leaky ReLU, max / average pooling, BatchNorm in eval mode, skip connections); for other networks the two
    differ.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, ...) to logits (B, C); BatchNorm layers must be in eval mode.
    x : Tensor
        Input batch, shape (B, ...).
    names : iterable of str, optional
        Names of the parameters / buffers forming ``b``. Default: :func:`bias_names` (every ``*bias`` parameter and
        every BatchNorm ``running_mean``). Pass your own list if e.g. an input-normalisation module subtracts a
        mean stored under another name.
    method : {"reverse", "forward"}, default "reverse"
        ``"reverse"``: a scalar ``t`` that requires grad and two reverse-mode passes: the vector–Jacobian product
        :math:`s(u) = \sum_{b,c} u_{bc}\, \partial_t \Psi^c(x_b)` with a dummy cotangent ``u`` (graph kept), then
        :math:`\partial s / \partial u`, which is the per-example, per-class derivative. ``"forward"``: one
        forward-mode pass (:func:`torch.func.jvp` with tangent 1 for ``t``); same result, but PyTorch's first
        forward-mode call in a process takes about two seconds to set up, and some layers lack forward-mode
        formulas. A plain backward pass of ``logits[:, c].sum()`` with one shared ``t`` would only give the sum of
        :math:`\beta^c` over the batch, hence these two constructions.

    Returns
    -------
    Tensor
        Shape (B, C), :math:`\beta^c(x_b)`; zeros if the model has no biases.

    Raises
    ------
    ValueError
        If a BatchNorm layer is in training mode or without running statistics, a name is unknown, or ``method`` is
        not one of the two above.
    """
    check_batch_independent(model)
    if method not in ("forward", "reverse"):
        raise ValueError(f"method must be 'forward' or 'reverse', got {method!r}")
    available = dict(model.named_parameters())
    available.update(dict(model.named_buffers()))
    chosen = list(bias_names(model) if names is None else names)
    unknown = [n for n in chosen if n not in available]
    if unknown:
        raise ValueError(f"unknown parameter / buffer names: {unknown}")
    modules = dict(model.named_modules())
    bn_means: dict[str, Tensor] = {}  # BatchNorm module name -> its (unscaled) running mean
    base: dict[str, Tensor] = {}  # other bias tensors, scaled inside functional_call
    for n in chosen:
        owner, _, leaf = n.rpartition(".")
        module = modules.get(owner)
        if leaf == "running_mean" and isinstance(module, nn.modules.batchnorm._BatchNorm):
            bn_means[owner] = available[n].detach()
        else:
            base[n] = available[n].detach()
    x = x.detach()

    def scaled_logits(t: Tensor) -> Tensor:
        # BatchNorm's running_mean cannot carry a gradient or tangent (the kernel refuses it), so its scaling is
        # applied as an exact output correction instead: in eval mode
        # BN(x; t μ) = w (x − t μ) / sqrt(v + ε) + β = BN(x; μ) + (1 − t) w μ / sqrt(v + ε).
        def correction(mean: Tensor) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], Tensor]:
            def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
                bn = module  # type: ignore[assignment]
                shift = mean / torch.sqrt(bn.running_var + bn.eps)  # type: ignore[operator]
                if bn.weight is not None:
                    shift = shift * bn.weight
                view = (1, -1) + (1,) * (output.dim() - 2)
                return output + (1 - t) * shift.reshape(view)

            return hook

        handles = [modules[name].register_forward_hook(correction(mean)) for name, mean in bn_means.items()]
        try:
            return functional_call(model, {n: t * b for n, b in base.items()}, (x,))
        finally:
            for handle in handles:
                handle.remove()

    if not base and not bn_means:
        with torch.no_grad():
            logits = model(x)
        return torch.zeros_like(logits)

    one = torch.ones((), dtype=x.dtype, device=x.device)
    if method == "forward":
        with torch.no_grad(), warnings.catch_warnings():
            # torch's first forward-mode call scripts some decompositions and warns that torch.jit is deprecated
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
            _, beta = jvp(scaled_logits, (one,), (torch.ones_like(one),))
        return beta.detach()
    with torch.enable_grad():
        t = one.clone().requires_grad_(True)
        logits = scaled_logits(t)
        u = torch.zeros_like(logits, requires_grad=True)
        (dt,) = torch.autograd.grad(logits, t, grad_outputs=u, create_graph=True, allow_unused=True)
        if dt is None or not dt.requires_grad:  # logits independent of the biases
            return torch.zeros_like(logits).detach()
        (beta,) = torch.autograd.grad(dt, u, allow_unused=True)
    return (torch.zeros_like(logits) if beta is None else beta).detach()


# ----------------------------------------------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------------------------------------------
_VECTOR_FIELDS = ("g", "g_dagger", "xi", "gamma")


@dataclass
class Geometry:
    r"""Per-example local geometry of a classifier (Etmann et al. 2019, Sections 2–3).

    All fields are tensors on the input's device with the input's dtype (``pred``, ``j_star``, ``pred_xi``:
    int64). Shapes are (B,) unless stated. Divisions by a norm :math:`\|v\|` use :math:`\max(\|v\|, \varepsilon)`
    (see :func:`geometry`). For a degenerate example with :math:`g^\dagger = 0` (e.g. every ReLU dead, so the
    logits are locally constant) the true :math:`\tilde\rho` is infinite and is reported as margin / ε; Theorem 3's
    terms carry no meaning there.

    Attributes
    ----------
    logits : Tensor
        (B, C), :math:`\Psi(x)`.
    pred : Tensor
        :math:`i^* = F(x) = \arg\max_i \Psi^i(x)` (eq. 6).
    j_star : Tensor
        :math:`j^*`, the minimiser over :math:`j \ne i^*` in eq. (9).
    g : Tensor or None
        (B, \*x), :math:`g = \nabla\Psi^{i^*}(x)`, the saliency map. None if ``keep_vectors=False``.
    g_dagger : Tensor or None
        (B, \*x), :math:`g^\dagger = \nabla(\Psi^{i^*}-\Psi^{j^*})(x)`, the binarized saliency map.
    alpha : Tensor
        :math:`\alpha(x) = |\langle x, g\rangle| / \|g\|`, eq. (7).
    alpha_dagger : Tensor
        :math:`\alpha^\dagger(x) = |\langle x, g^\dagger\rangle| / \|g^\dagger\|`, eq. (11).
    rho_tilde : Tensor
        :math:`\tilde\rho(x)`, eq. (9).
    beta : Tensor
        (B, C), :math:`\beta^i(x) = \Psi^i(x) - \langle x, \nabla\Psi^i(x)\rangle`, the remainder of the
        homogeneous decomposition (Theorem 1, eq. 13); equal to :func:`bias_term` for networks of class
        :math:`\mathcal N`.
    beta_dagger : Tensor
        :math:`\beta^\dagger = \beta^{i^*}(x) - \beta^{j^*}(x)`.
    psi_dagger : Tensor
        :math:`\Psi^\dagger_x(x) = \Psi^{i^*}(x) - \Psi^{j^*}(x)` (eq. 10), the margin; ``>= 0``.
    linear_dagger : Tensor
        :math:`\langle x, g^\dagger\rangle`, so that ``psi_dagger == linear_dagger + beta_dagger``.
    x_norm : Tensor
        :math:`\|x\|`.
    beta_term : Tensor
        :math:`|\beta^\dagger| / \|g^\dagger\|`.
    rhs14 : Tensor
        Right-hand side of eq. (14)/(18): :math:`\alpha^\dagger + |\beta^\dagger|/\|g^\dagger\|`.
    angle_term : Tensor
        :math:`\|x\| \cdot \|\bar g^\dagger - \bar g\|`.
    rhs15 : Tensor
        Right-hand side of eq. (15)/(19):
        :math:`\alpha + \|x\|\|\bar g^\dagger - \bar g\| + |\beta^\dagger|/\|g^\dagger\|`.
    xi : Tensor or None
        (B, \*x), :math:`\xi = x + \beta^\dagger/\|g^\dagger\| \cdot \bar g^\dagger` (Theorem 3). None unless
        ``theorem3=True`` (and ``keep_vectors=True``).
    gamma : Tensor or None
        (B, \*x), :math:`\gamma = \nabla\Psi^{i^*}(\xi)`, with :math:`i^*` the class predicted at ``x``.
    xi_alignment : Tensor or None
        :math:`|\langle \xi, \bar\gamma\rangle|`; equals the alignment :math:`\alpha(\xi)` when ``pred_xi == pred``.
    xi_angle_term : Tensor or None
        :math:`\|\xi\| \cdot \|\bar g^\dagger - \bar\gamma\|`.
    rhs16 : Tensor or None
        Right-hand side of eq. (16)/(20): ``xi_alignment + xi_angle_term``.
    pred_xi : Tensor or None
        :math:`F(\xi)`; where it equals ``pred`` the bound reads :math:`\tilde\rho(x) \le \alpha(\xi) + \dots`.
    """

    logits: Tensor
    pred: Tensor
    j_star: Tensor
    g: Tensor | None
    g_dagger: Tensor | None
    alpha: Tensor
    alpha_dagger: Tensor
    rho_tilde: Tensor
    beta: Tensor
    beta_dagger: Tensor
    psi_dagger: Tensor
    linear_dagger: Tensor
    x_norm: Tensor
    beta_term: Tensor
    rhs14: Tensor
    angle_term: Tensor
    rhs15: Tensor
    xi: Tensor | None = None
    gamma: Tensor | None = None
    xi_alignment: Tensor | None = None
    xi_angle_term: Tensor | None = None
    rhs16: Tensor | None = None
    pred_xi: Tensor | None = None

    def __len__(self) -> int:
        return int(self.pred.shape[0])

    def to_numpy(self, *, vectors: bool = False) -> dict[str, np.ndarray]:
        """The fields as NumPy arrays (copied to the CPU).

        Parameters
        ----------
        vectors : bool, default False
            Also include the input-shaped fields ``g``, ``g_dagger``, ``xi`` and ``gamma``.

        Returns
        -------
        dict of str to numpy.ndarray
            One entry per field that is not None; per-example scalars have shape (B,), ``logits`` and ``beta``
            (B, C).
        """
        out: dict[str, np.ndarray] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name in _VECTOR_FIELDS and not vectors):
                continue
            out[f.name] = value.detach().cpu().numpy()
        return out


def _norm(v: Tensor) -> Tensor:
    """Euclidean norm over all but the first dimension."""
    return torch.linalg.vector_norm(v.flatten(1), dim=1)


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-example inner product over all but the first dimension."""
    return (a.flatten(1) * b.flatten(1)).sum(dim=1)


def _geometry_chunk(model: nn.Module, x: Tensor, *, theorem3: bool, eps: float, keep_vectors: bool
                    ) -> dict[str, Tensor | None]:
    logits, grads = class_gradients(model, x)  # (b, C), (b, C, *x)
    n, n_classes = logits.shape
    if n_classes < 2:
        raise ValueError(f"geometry needs at least 2 classes, the model returned {n_classes} logit(s)")
    with torch.no_grad():
        rows = torch.arange(n, device=x.device)
        xf = x.detach().flatten(1)  # (b, D)
        gf = grads.flatten(2)  # (b, C, D)
        lin = torch.einsum("bcd,bd->bc", gf, xf)  # <x, ∇Ψ^c(x)>
        beta = logits - lin  # Theorem 1 remainder

        pred = logits.argmax(dim=1)
        g = gf[rows, pred]  # (b, D)
        margins = logits[rows, pred].unsqueeze(1) - logits  # Ψ^{i*} − Ψ^j  (>= 0)
        diff_norm = torch.linalg.vector_norm(g.unsqueeze(1) - gf, dim=2)  # ‖∇Ψ^{i*} − ∇Ψ^j‖
        ratio = margins / diff_norm.clamp_min(eps)
        ratio[rows, pred] = torch.inf
        rho_tilde, j_star = ratio.min(dim=1)  # eq. (9)

        g_dagger = g - gf[rows, j_star]
        g_norm = torch.linalg.vector_norm(g, dim=1).clamp_min(eps)
        gd_norm = torch.linalg.vector_norm(g_dagger, dim=1).clamp_min(eps)
        lin_i = lin[rows, pred]
        linear_dagger = lin_i - lin[rows, j_star]
        alpha = lin_i.abs() / g_norm  # eq. (7)
        alpha_dagger = linear_dagger.abs() / gd_norm  # eq. (11)
        beta_dagger = beta[rows, pred] - beta[rows, j_star]
        psi_dagger = logits[rows, pred] - logits[rows, j_star]
        x_norm = torch.linalg.vector_norm(xf, dim=1)

        g_bar = g / g_norm.unsqueeze(1)
        gd_bar = g_dagger / gd_norm.unsqueeze(1)
        beta_term = beta_dagger.abs() / gd_norm
        rhs14 = alpha_dagger + beta_term  # eq. (14) / (18)
        angle_term = x_norm * torch.linalg.vector_norm(gd_bar - g_bar, dim=1)
        rhs15 = alpha + angle_term + beta_term  # eq. (15) / (19)

    shape = x.shape
    out: dict[str, Tensor | None] = dict(
        logits=logits, pred=pred, j_star=j_star,
        g=g.reshape(shape) if keep_vectors else None,
        g_dagger=g_dagger.reshape(shape) if keep_vectors else None,
        alpha=alpha, alpha_dagger=alpha_dagger, rho_tilde=rho_tilde, beta=beta, beta_dagger=beta_dagger,
        psi_dagger=psi_dagger, linear_dagger=linear_dagger, x_norm=x_norm, beta_term=beta_term, rhs14=rhs14,
        angle_term=angle_term, rhs15=rhs15,
    )
    if theorem3:
        with torch.no_grad():
            xi_f = xf + (beta_dagger / gd_norm).unsqueeze(1) * gd_bar  # Theorem 3's ξ
        logits_xi, gamma = class_gradients(model, xi_f.reshape(shape), classes=pred.unsqueeze(1))
        with torch.no_grad():
            gamma_f = gamma[:, 0].flatten(1)
            gamma_bar = gamma_f / torch.linalg.vector_norm(gamma_f, dim=1, keepdim=True).clamp_min(eps)
            xi_alignment = (xi_f * gamma_bar).sum(dim=1).abs()
            xi_angle_term = torch.linalg.vector_norm(xi_f, dim=1) * torch.linalg.vector_norm(gd_bar - gamma_bar, dim=1)
        out.update(
            xi=xi_f.reshape(shape) if keep_vectors else None,
            gamma=gamma_f.reshape(shape) if keep_vectors else None,
            xi_alignment=xi_alignment, xi_angle_term=xi_angle_term,
            rhs16=xi_alignment + xi_angle_term,  # eq. (16) / (20)
            pred_xi=logits_xi.argmax(dim=1),
        )
    return out


def geometry(
    model: nn.Module,
    x: Tensor,
    *,
    theorem3: bool = False,
    batch_size: int = 256,
    eps: float = 1e-12,
    keep_vectors: bool = True,
) -> Geometry:
    r"""α, α†, ρ̃, β and the terms of Theorems 2 and 3 for every example of ``x``.

    Per chunk of ``batch_size`` examples this makes one :func:`class_gradients` call (one forward pass and C
    backward passes), plus one call with a single backward pass at :math:`\xi` when ``theorem3`` is set; all
    remaining arithmetic runs under ``torch.no_grad``. Results do not depend on ``batch_size`` (up to
    floating-point summation order).

    By construction :math:`\beta` is the remainder of the homogeneous decomposition, so the identities used in the
    proofs, :math:`\tilde\rho = |\langle x, \bar g^\dagger\rangle + \beta^\dagger/\|g^\dagger\|| = \langle\xi,
    \bar g^\dagger\rangle`, and hence the inequalities (14)–(16), hold for any differentiable model; Theorem 1 says
    this remainder equals :func:`bias_term` for ReLU networks, and Lemma 2 (eq. 12) that ρ̃ = α† when the logits are
    positively one-homogeneous (ReLU nets without biases).

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, ...) to logits (B, C) with C >= 2 (a binary model needs two logits). BatchNorm layers must be in
        eval mode. The model is neither moved nor switched to eval mode here.
    x : Tensor
        Inputs, shape (B, ...), on the model's device; all outputs are on ``x.device`` with ``x.dtype``.
    theorem3 : bool, default False
        Also compute :math:`\xi`, :math:`\gamma` and the terms of Theorem 3 (eq. 16).
    batch_size : int, default 256
        Examples per chunk. Memory is dominated by the (chunk, C, D) gradient tensor; lower it for many classes or
        large inputs.
    eps : float, default 1e-12
        Guard for divisions by norms: every :math:`1/\|v\|` (for :math:`g`, :math:`g^\dagger`,
        :math:`\nabla\Psi^{i^*}-\nabla\Psi^j`, :math:`\gamma`) is computed as :math:`1/\max(\|v\|, \varepsilon)`.
        With a zero gradient the quotients thus become (large but finite) ``margin / eps`` or 0 instead of
        ``inf``/``nan``; normalised vectors :math:`\bar v` of a zero :math:`v` are 0.
    keep_vectors : bool, default True
        Keep the input-shaped fields ``g``, ``g_dagger``, ``xi``, ``gamma`` (set False to save memory; they are then
        None).

    Returns
    -------
    Geometry
        Per-example tensors, concatenated over chunks.

    Raises
    ------
    ValueError
        For an empty batch, ``batch_size < 1``, fewer than two classes, or a BatchNorm layer in training mode.

    Warns
    -----
    UserWarning
        If a dropout layer is in training mode.

    Notes
    -----
    The gradients of a max-pool network are subgradients at ties: where two entries of a pooling window are within
    round-off of each other, float32 kernels for different batch sizes (e.g. oneDNN on CPU) may route the gradient
    differently, so a few examples can differ between ``batch_size`` settings in float32 (both results valid).
    In float64 results are independent of ``batch_size`` to round-off.
    """
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError("geometry needs a non-empty batch")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if any(isinstance(m, nn.modules.dropout._DropoutNd) and m.training for m in model.modules()):
        warnings.warn(
            "geometry(): a dropout layer is in training mode, so the logits at x and at ξ are random; "
            "call model.eval() for reproducible results",
            stacklevel=2,
        )
    chunks = [
        _geometry_chunk(model, xb, theorem3=theorem3, eps=eps, keep_vectors=keep_vectors)
        for xb in torch.split(x, batch_size, dim=0)
    ]
    merged: dict[str, Tensor | None] = {}
    for name in chunks[0]:
        parts = [c[name] for c in chunks]
        merged[name] = None if parts[0] is None else torch.cat(parts, dim=0)  # type: ignore[arg-type]
    return Geometry(**merged)  # type: ignore[arg-type]


def homogeneous_copy(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` with every bias of :func:`bias_names` (BatchNorm running means included) set to
    zero: Lemma 2's setting, a positively one-homogeneous network whose ρ̃ equals α† (eq. 12)."""
    import copy

    m = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for n in bias_names(m):
            mod_name, _, leaf = n.rpartition(".")
            mod = m.get_submodule(mod_name) if mod_name else m
            getattr(mod, leaf).zero_()
    return m
