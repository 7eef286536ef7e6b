"""The registry of attribution methods behind :func:`rilib.attribution.attribute`.

A method is a function ``fn(model, x, target, **options) -> Tensor`` returning a *signed, per-channel* map of the
shape of ``x`` for one batch; :func:`rilib.attribution.attribute` does the batching, the device, the absolute value
and the channel sum around it. Register a new one with the :func:`register` decorator::

    @register("saliency")
    def _saliency(model, x, target):
        return input_grad(model, x, target, objective="logit")

``batched=False`` marks a method that does not run the model (the random baseline): it is called once on the whole
input and may ignore ``model``. The keyword-only parameters of ``fn`` are the method's options; any other option
passed to :func:`~rilib.attribution.attribute` is refused with a ``TypeError`` naming the ones it accepts.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

__all__ = ["Method", "METHODS", "register", "get_method"]


@dataclass(frozen=True)
class Method:
    """One registered attribution method (see the module docstring)."""

    name: str
    fn: Callable[..., Tensor]
    batched: bool = True
    description: str = ""
    #: options that hold one row per example (a boundary point, a baseline per image): chunked with ``x``
    per_example: tuple[str, ...] = ()

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword-only parameters of ``fn``: the options the method accepts."""
        params = inspect.signature(self.fn).parameters.values()
        return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


#: every registered method, by name
METHODS: dict[str, Method] = {}


def register(name: str, *, batched: bool = True, description: str = "",
             per_example: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator registering ``fn(model, x, target, **options)`` as attribution method ``name`` (see the module
    docstring). ``per_example`` names the options that are tensors with one row per example of ``x`` (chunked and
    moved to the model's device with it; a tensor of batch size 1, or a number, is shared by every example).
    Registering a name twice raises ``ValueError``."""

    def deco(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        if name in METHODS:
            raise ValueError(f"attribution method {name!r} is already registered")
        doc = description or (inspect.getdoc(fn) or "").split("\n")[0]
        METHODS[name] = Method(name, fn, batched=batched, description=doc, per_example=tuple(per_example))
        return fn

    return deco


def get_method(name: str) -> Method:
    """The registered method ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown attribution method {name!r}; known: {', '.join(sorted(METHODS))}") from None
