"""AutoPGD (Croce & Hein 2020: APGD-CE and APGD-DLR, L2) behind :func:`rilib.attacks.attack`, from the Adversarial
Robustness Toolbox (ART, ``art.attacks.evasion.AutoProjectedGradientDescent``) — the maintained implementation that
installs here (torchattacks pins ``requests~=2.25``; auto-attack itself is not on PyPI).

Batch independence: ART draws the random start of a whole batch from NumPy's global generator and stops a batch
early when every example's loss is 0, so a point's result would depend on its batch-mates. Here each example is
attacked alone, with NumPy's generator seeded from (``seed``, the example's bytes) — the same answer alone as in
any batch. ART's step size starts at ``eps_step`` and halves per example at its checkpoints (the paper's schedule);
``eps_step`` defaults to 2ε, Croce & Hein's initial L2 step.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from .result import AttackResult, eval_mode, make_result

__all__ = ["run_apgd", "LOSSES"]

#: our name -> ART's loss_type
LOSSES = {"ce": "cross_entropy", "dlr": "difference_logits_ratio"}


def _seed(row: np.ndarray, seed: int) -> int:
    h = hashlib.blake2b(np.ascontiguousarray(row).tobytes(), digest_size=4, key=str(int(seed)).encode())
    return int.from_bytes(h.digest(), "little")


def run_apgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, bounds: tuple[float, float],
             device, loss: str = "ce", steps: int = 100, eps_step: float | None = None, restarts: int = 1,
             seed: int = 0) -> AttackResult:
    """L2 APGD with ``loss`` ``"ce"`` or ``"dlr"`` at radius ``eps`` (one batch; see the module docstring)."""
    if loss not in LOSSES:
        raise ValueError(f"apgd loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    with eval_mode(model), torch.no_grad():
        n_classes = int(model(x[:1].to(device)).shape[1])
    clf = PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]),
                            nb_classes=n_classes, clip_values=tuple(float(b) for b in bounds),
                            device_type="gpu" if torch.device(device).type == "cuda" else "cpu")
    att = AutoProjectedGradientDescent(clf, norm=2, eps=float(eps), eps_step=float(eps_step or 2 * eps),
                                       max_iter=int(steps), targeted=False, nb_random_init=int(restarts),
                                       batch_size=1, loss_type=LOSSES[loss], verbose=False)
    xs = x.detach().cpu().numpy().astype(np.float32)
    onehot = np.eye(n_classes, dtype=np.float32)[y.cpu().numpy()]
    out = np.empty_like(xs)
    state = np.random.get_state()
    try:
        with eval_mode(model):
            for i in range(xs.shape[0]):
                np.random.seed(_seed(xs[i], seed))
                out[i] = att.generate(x=xs[i:i + 1], y=onehot[i:i + 1])[0]
    finally:
        np.random.set_state(state)
    x_adv = torch.from_numpy(out).to(device=x.device, dtype=x.dtype)
    with eval_mode(model), torch.no_grad():
        success = model(x_adv.to(device)).argmax(1).to(x.device) != y.to(x.device)
    return make_result(x, x_adv, success, None)
