"""Foolbox 3 attacks behind :func:`rilib.attacks.attack`: the model wrapper, the per-example ε grid and its refinement.

Batch independence
------------------
A point's answer must not depend on which other points share its batch (or on the batch size, ``n_eval``, the
order of the evaluation set): the chapter reports per-point distances. Foolbox's attacks are batched, so this
module makes sure each one used here computes every example on its own:

* ``fgm``, ``bim``: deterministic, per-example gradient steps, projection and clipping.
* ``pgd``: Foolbox's L2 PGD draws its random start for the whole batch from the global RNG, so a point's start
  would depend on its batch-mates. Here it is drawn per example (uniform in the ε-ball, as Foolbox does), from a
  generator seeded by ``seed`` (default 0) and a hash of the example itself; ``random_start=False`` turns it off.
* ``cw``: Foolbox's ``L2CarliniWagnerAttack`` with ``abort_early=True`` (its default) stops Adam when the *batch
  sum* of the loss stopped decreasing, so a point's distance depends on its batch-mates. It is run with
  ``abort_early=False``; passing ``abort_early=True`` raises ``ValueError``. Everything else in Foolbox 3.3's
  implementation is per example (checked in ``foolbox/attacks/carlini_wagner.py``): the loss is a sum of
  per-example terms (margin × that example's constant + its squared distance), so its gradient with respect to an
  example's perturbation is that example's own; Adam's moments are elementwise and its bias correction uses the
  step count, which is the same for every example; the binary / exponential search updates each example's own
  constant from its own ``found_advs``; the best adversarial is kept per example.
* ``fmn``, ``ddn``: per-example step sizes, ε and best points, no batch-level stopping. (DDN replaces an all-zero
  gradient by Gaussian noise from the global RNG: only an example whose loss gradient is exactly zero would be
  affected.)

All of this assumes the model itself treats examples independently (no BatchNorm in training mode): the model
is always run in eval mode.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Sequence

import torch
from torch import nn

from .result import AttackResult, eval_mode, make_result

__all__ = ["FOOLBOX_METHODS", "fool_model", "foolbox_attack", "import_foolbox", "run_foolbox"]

#: attacks run through Foolbox (``"gradient"`` uses Foolbox's fast-gradient step for its direction)
FOOLBOX_METHODS = ("fgm", "bim", "pgd", "cw", "fmn", "ddn", "gradient")


def import_foolbox():
    """``import foolbox``, every import of it in rilib goes through here.

    Foolbox imports GitPython, which without the ``git`` program on PATH fails unless ``GIT_PYTHON_REFRESH`` says
    otherwise; it is set (if unset) only now, right before the first import, not when rilib is imported.
    """
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    import foolbox

    return foolbox


class _EvalModel(nn.Module):
    """``model`` evaluated in eval mode on every call, each submodule's own train/eval flag restored after."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.training = False  # not .eval(): that would switch the caller's model as well

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with eval_mode(self.model):
            return self.model(x)


def fool_model(model: nn.Module, *, bounds: tuple[float, float], device: torch.device | str | None = None):
    """Foolbox ``PyTorchModel`` of ``model`` with explicit bounds and device (Foolbox otherwise picks ``cuda:0``).

    The wrapped model runs in eval mode on every call; the caller's train/eval mode is left as it was. (The model
    is moved to ``device``, which defaults to the device of its parameters.)
    """
    fb = import_foolbox()
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    return fb.PyTorchModel(_EvalModel(model), bounds=bounds, device=device)


def _per_example_ball(x0: torch.Tensor, seed: int) -> torch.Tensor:
    """One point per example, uniform in the unit L2 ball, drawn from a generator of (``seed``, the example's bytes).

    Same construction as Foolbox's ``uniform_l2_n_balls`` (the first n coordinates of a uniform point on the
    (n+1)-sphere), but per example, so the draw does not depend on the batch.
    """
    flat = x0.detach().flatten(1).cpu()
    n = flat.shape[1]
    out = torch.empty(flat.shape, dtype=torch.float64)
    for i, row in enumerate(flat):
        h = hashlib.blake2b(row.numpy().tobytes(), digest_size=8, key=str(int(seed)).encode())
        g = torch.Generator().manual_seed(int.from_bytes(h.digest(), "little") & (2**63 - 1))
        v = torch.randn(n + 2, generator=g, dtype=torch.float64)
        out[i] = (v / v.norm())[:n]
    return out.to(device=x0.device, dtype=x0.dtype).view_as(x0)


_SEEDED_PGD = None


def _seeded_pgd_class():
    global _SEEDED_PGD
    if _SEEDED_PGD is None:
        fb = import_foolbox()
        import eagerpy as ep

        class SeededL2PGD(fb.attacks.L2ProjectedGradientDescentAttack):
            """Foolbox's L2 PGD with a per-example random start (see :func:`_per_example_ball`)."""

            def __init__(self, *, seed: int = 0, **kw):
                super().__init__(**kw)
                self.seed = seed

            def get_random_start(self, x0, epsilon):
                return x0 + epsilon * ep.astensor(_per_example_ball(x0.raw, self.seed))

        _SEEDED_PGD = SeededL2PGD
    return _SEEDED_PGD


def foolbox_attack(method: str, **kw: Any):
    """The Foolbox attack object of ``method`` (constructor keywords ``kw``), batch-independent (module docstring)."""
    fb = import_foolbox()
    if method == "cw":
        if kw.get("abort_early", False):
            raise ValueError(
                "abort_early=True makes Foolbox's Carlini-Wagner attack stop when the loss summed over the batch stops "
                "decreasing, so a point's distance would depend on its batch-mates (and on n_eval / batch_size). "
                "rilib runs CW with abort_early=False (each example runs all `steps`); drop the option, or lower "
                "`steps` if it is too slow."
            )
        kw = dict(kw, abort_early=False)
    if method == "pgd":
        return _seeded_pgd_class()(**kw)
    table = {
        "fgm": fb.attacks.L2FastGradientAttack,
        "bim": fb.attacks.L2BasicIterativeAttack,
        "cw": fb.attacks.L2CarliniWagnerAttack,
        "fmn": fb.attacks.L2FMNAttack,
        "ddn": fb.attacks.DDNAttack,
    }
    return table[method](**kw)


def run_foolbox(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, method: str, bounds: tuple[float, float],
                epsilons: float | Sequence[float] | None, device, refine: int, options: dict) -> AttackResult:
    """One batch of a Foolbox attack, with the per-example smallest successful ε of a grid (and its refinement)."""
    fb = import_foolbox()
    fmodel = fool_model(model, bounds=bounds, device=device)
    att = foolbox_attack(method, **options)
    crit = fb.criteria.Misclassification(y)
    if epsilons is None or isinstance(epsilons, (int, float)):
        _, clipped, success = att(fmodel, x, crit, epsilons=epsilons)
        return make_result(x, clipped, success, None)
    eps_list = sorted(float(e) for e in epsilons)
    # ascending, each ε only on the points no smaller ε fooled (a point's result does not depend on the others, so
    # this equals running every ε on every point and keeping the first success; failures keep the last ε's output)
    x_adv = x.clone()
    any_success = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    first = torch.full((x.shape[0],), len(eps_list) - 1, dtype=torch.long, device=x.device)
    for k, e in enumerate(eps_list):
        idx = torch.nonzero(~any_success).flatten()
        if idx.numel() == 0:
            break
        _, clipped, success = att(fmodel, x[idx], fb.criteria.Misclassification(y[idx]), epsilons=e)
        success = torch.as_tensor(success, device=x.device)
        keep = success if k < len(eps_list) - 1 else torch.ones_like(success)
        x_adv[idx[keep]] = clipped[keep].to(x_adv.dtype)
        first[idx[success]] = k
        any_success[idx[success]] = True
    grid = torch.tensor(eps_list, device=x.device)
    eps_t = grid[first]
    if refine > 0 and any_success.any():
        lower = torch.where(first > 0, grid[(first - 1).clamp_min(0)], torch.zeros_like(eps_t))
        x_adv, eps_t = _refine(lambda xs, ys, e: att(fmodel, xs, fb.criteria.Misclassification(ys), epsilons=e),
                               x, y, x_adv, lower, eps_t, any_success, rounds=refine)
    eps_t = torch.where(any_success, eps_t, torch.full_like(eps_t, float("inf")))
    return make_result(x, x_adv, any_success, eps_t)


def _refine(run, x, y, x_adv, lower, upper, active, *, rounds: int):
    """Per-example bisection of the smallest successful ε of a fixed-ε attack, with :func:`rilib.search.bisect`.

    Each example ``i`` with ``active[i]`` has a failing ``lower[i]`` (0 for "below the grid") and a successful
    ``upper[i]`` with its adversarial point ``x_adv[i]``. Each round tries every example at the midpoint of its own
    bracket (geometric; arithmetic when ``lower`` is 0) and keeps the half that contains the success boundary.
    Foolbox attacks take one ε per call, so the ``crossed`` test attacks the examples that share a midpoint together:
    every round is one attack run per example, however many calls that takes. ``run(x, y, eps) -> (raw, clipped,
    success)``. Returns the adversarial points at the final upper ends and those ends.
    """
    from ..search import bisect

    x_adv = x_adv.clone()
    found = torch.empty_like(x_adv)  # the adversarial point of the latest successful midpoint, per example

    def crossed(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        hit = torch.zeros(idx.shape[0], dtype=torch.bool, device=x.device)
        for m in torch.unique(t):
            pos = torch.nonzero(t == m).flatten()
            sub = idx[pos]
            _, clipped, success = run(x[sub], y[sub], float(m))
            success = torch.as_tensor(success).to(x.device).bool()
            found[sub] = torch.as_tensor(clipped).to(x.device)
            hit[pos] = success
        return hit

    def keep(idx: torch.Tensor, t: torch.Tensor) -> None:
        x_adv[idx] = found[idx]

    _, upper = bisect(crossed, lower, upper, steps=rounds, active=active, geometric=True, on_crossed=keep)
    return x_adv, upper
