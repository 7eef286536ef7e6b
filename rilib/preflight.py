"""Before any work: what the chosen notebooks need, what they will train, and roughly how long it takes here.

:func:`check` is what :mod:`rilib.runner` does before it starts a kernel. For every notebook it asks the chapter
which zoo models the page needs and which other files (each paper's ``rilib/papers/<paper>/needs.py``, handed in
by the runner), then

* loads each model's data through :mod:`rilib.data` (the loaders' own errors name every path searched and how to
  supply the data) and checks each weight file a spec starts from; everything missing is listed in **one** message,
  before anything is trained;
* counts the models that are not cached yet (their specs are fully known before any work), and the models whose
  settings depend on earlier results (Noack's calibrated λ and ε, the interpretation targets) — those are counted
  as to train while some known model is still to train or none is cached (their own keys exist only later);
* estimates the training time on this device from a measured probe: two training steps of each distinct
  (architecture, regime, input shape) on a random batch, scaled to the spec's images × epochs. The probe leaves out
  data loading and evaluation, and a small batch under-uses a GPU, so on a GPU the estimate is an upper bound; on a
  CPU it is the order of magnitude (evaluations — attacks, attributions — come on top).

A paper-profile run on a machine without CUDA and without a ``$RILIB_SCHEDULER`` cluster asks for confirmation
(the runner's ``--yes`` gives it up front).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import zoo
from .data.container import DataFormatError, DataNotFoundError, data_root

__all__ = ["Need", "Needs", "Plan", "check", "estimate_seconds", "format_plan", "needs_confirmation"]


@dataclass(frozen=True)
class Need:
    """A file or folder a notebook needs that is not there: ``what`` it is and ``how`` to supply it."""

    path: str
    what: str
    how: str


@dataclass
class Plan:
    notebooks: list[str]
    missing: list[Need] = field(default_factory=list)
    to_train: list[zoo.ModelSpec] = field(default_factory=list)
    cached: int = 0
    dependent: list[zoo.ModelSpec] = field(default_factory=list)  # settings known only after earlier results
    seconds: float | None = None  # estimated training time on this device (None: nothing to train or no probe)
    device: str = "cpu"

    @property
    def ok(self) -> bool:
        return not self.missing


#: ``needs(paper, stem, profile) -> (known specs, dependent specs, [(path, what, how), ...])``: what one notebook
#: needs; each paper's ``rilib/papers/<paper>/needs.py`` answers for its pages, the runner hands them in
Needs = Callable[[str, str, str], tuple[list, list, list]]


# ---------------------------------------------------------------------------------------------------------------
# the check
# ---------------------------------------------------------------------------------------------------------------
def _data_problem(spec: zoo.ModelSpec) -> Need | None:
    try:
        zoo.load_data(spec)
    except (DataNotFoundError, DataFormatError, FileNotFoundError) as e:
        return Need(str(spec.data_kwargs.get("path") or spec.data_kwargs.get("root") or spec.dataset),
                    f"dataset {spec.dataset}", str(e))
    return None


def _weights_problem(spec: zoo.ModelSpec) -> Need | None:
    if not spec.init_weights:
        return None
    p = zoo._resolve(spec.init_weights)
    if p.is_file():
        return None
    return Need(str(p), f"weights of {spec.arch} ({spec.dataset}, {spec.regime})",
                "supply a safetensors file or a plain PyTorch state-dict there (see data/README.md)")


def _n_train(spec: zoo.ModelSpec) -> int:
    return int(zoo.load_data(spec).x_train.shape[0])


#: the largest batch a probe runs; a larger spec batch is timed at this size and scaled per image
PROBE_BATCH = 64


def _probe_key(spec: zoo.ModelSpec) -> str:
    from .cache import canonical_json

    return canonical_json([spec.dataset, spec.data_kwargs.get("size"), spec.arch, spec.arch_kwargs, spec.regime,
                           spec.regime_kwargs, spec.batch_size])


def _probe(spec: zoo.ModelSpec, device: torch.device) -> float:
    """Seconds per training step of ``spec`` on ``device`` (one batch of ``spec.batch_size``): the median step,
    after two warm-up steps, of its regime's loss and backward pass (no optimiser) on a random batch of the data's
    input shape; steps repeat for about 2 s (3 to 10 steps). Batches above :data:`PROBE_BATCH` are timed at that
    size and scaled per image."""
    ds = zoo.load_data(spec)
    b = min(spec.batch_size, PROBE_BATCH)
    x = torch.rand((b, *tuple(ds.x_train[:1].shape[1:])), device=device)
    y = torch.randint(0, int(ds.y_train.max()) + 1, (b,), device=device)
    extras = tuple(torch.rand_like(x) for _ in (spec.extras or {}).get("arrays", ()))
    torch.manual_seed(0)
    model = zoo.build_model(spec).to(device).train()
    regime = spec.make_regime()
    times: list[float] = []
    while len(times) < 3 or (sum(times) < 2.0 and len(times) < 10):
        t0 = time.perf_counter()
        loss, _ = regime(model, x, y, *extras)
        loss.backward()
        model.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    steady = sorted(times[2:])  # the first two steps pay one-time costs (allocations, lazy initialisation)
    return steady[len(steady) // 2] * spec.batch_size / b


def estimate_seconds(specs: Iterable[zoo.ModelSpec], *, device: torch.device | str | None = None) -> float:
    """Training seconds of ``specs`` on ``device`` (default: CUDA if available): :func:`_probe` (one probe per
    distinct data × architecture × regime × batch) × steps per epoch × epochs. Specs that start from supplied
    weights with 0 epochs cost nothing."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    per_step: dict[str, float] = {}
    total = 0.0
    for s in specs:
        if s.epochs <= 0:
            continue
        k = _probe_key(s)
        if k not in per_step:
            per_step[k] = _probe(s, device)
        total += per_step[k] * math.ceil(_n_train(s) / s.batch_size) * s.epochs
    return total


def check(notebooks: Iterable[Path | str], profile: str, *, needs: Needs, estimate: bool = True) -> Plan:
    """The :class:`Plan` of running ``notebooks`` (paths ``…/<paper>/<stem>.py`` or ``"<paper>/<stem>"``);
    ``needs`` says what one notebook needs (the runner passes :func:`rilib.runner.paper_needs`)."""
    names = [f"{Path(n).parent.name}/{Path(n).stem}" for n in notebooks]
    plan = Plan(names, device="cuda" if torch.cuda.is_available() else "cpu")
    known: dict[str, zoo.ModelSpec] = {}
    dependent: dict[str, zoo.ModelSpec] = {}
    missing: dict[str, Need] = {}
    for name in names:
        paper, stem = name.split("/", 1)
        k, d, files = needs(paper, stem, profile)
        for s in k:
            known.setdefault(repr(s), s)
        for s in d:
            dependent.setdefault(repr(s), s)
        for path, what, how in files:
            if not Path(path).exists():
                missing.setdefault(str(path), Need(str(path), what, how))
    for s in [*known.values(), *dependent.values()]:
        for need in (_data_problem(s), _weights_problem(s)):
            if need is not None:
                missing.setdefault(need.how if need.what.startswith("dataset") else need.path, need)
    plan.missing = list(missing.values())
    if plan.missing:
        return plan
    for s in known.values():
        if zoo.is_cached(s):
            plan.cached += 1
        else:
            plan.to_train.append(s)
    # a dependent net's key exists only once its inputs do: counted as to train unless all known models are cached
    if dependent and (plan.to_train or not plan.cached):
        plan.dependent = list(dependent.values())
    if estimate and (plan.to_train or plan.dependent):
        plan.seconds = estimate_seconds([*plan.to_train, *plan.dependent])
    return plan


def _hours(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def format_plan(plan: Plan, profile: str) -> str:
    """The plan in a few lines for the terminal (or, with missing files, the one message that lists them)."""
    if plan.missing:
        lines = [f"cannot run {len(plan.notebooks)} notebook(s) at profile {profile!r}: "
                 f"{len(plan.missing)} thing(s) missing (nothing was started)"]
        for n in plan.missing:
            lines.append(f"  - {n.what}: {n.path}")
            lines.extend(f"      {line}" for line in n.how.splitlines())
        lines.append(f"data folder: {data_root()} (set $RILIB_DATA to use another)")
        return "\n".join(lines)
    by_arch: dict[str, int] = {}
    for s in [*plan.to_train, *plan.dependent]:
        k = f"{s.dataset} {s.arch}/{s.regime}, {s.epochs} epochs"
        by_arch[k] = by_arch.get(k, 0) + 1
    lines = [f"plan at profile {profile!r}: {len(plan.to_train)} model(s) to train, {plan.cached} cached"
             + (f", {len(plan.dependent)} more whose settings come from earlier results" if plan.dependent else "")]
    lines.extend(f"  {n} × {k}" for k, n in sorted(by_arch.items()))
    if plan.seconds is not None:
        lines.append(f"  estimated training time on this {plan.device.upper()}: about {_hours(plan.seconds)} "
                     "(measured per-step cost × images × epochs; evaluations come on top)")
    return "\n".join(lines)


def needs_confirmation(profile: str) -> bool:
    """A paper-profile run on a machine with no CUDA and no cluster (``$RILIB_SCHEDULER``)."""
    from .parallel import scheduler

    return profile == "paper" and not torch.cuda.is_available() and scheduler() is None

