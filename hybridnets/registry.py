"""Model registry: ``@register_model`` lists a constructor here and in timm's registry.

@register_model
def convvit_t(**kwargs) -> ConvViT: ...

hybridnets.list_models("convvit_*")

A model laid out for small inputs may name the constructor arguments it takes at larger ones
(``register_input_kwargs``); the recipes build with ``input_size_kwargs(name, input_size)``
and record them, so a checkpoint rebuilds the network it was trained as.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

import timm.models
from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_INPUT_KWARGS: dict[str, tuple[int, dict[str, Any]]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a model constructor under its function name, here and in timm.

    After registration ``timm.create_model(name)`` builds the same model, so hybridnets
    backbones drop into timm pipelines.
    """
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    if name not in timm.models.list_models(name):
        timm.models.register_model(fn)
    return fn


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of registered models, optionally filtered by an fnmatch ``pattern``."""
    names = sorted(_MODELS)
    return names if pattern is None else fnmatch.filter(names, pattern)


def is_model(name: str) -> bool:
    """True if ``name`` is a registered hybridnets model."""
    return name in _MODELS


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    """The constructor of ``name``; an unknown name raises ``ValueError`` with close matches."""
    if name not in _MODELS:
        close = difflib.get_close_matches(name, _MODELS, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}.{hint} See hybridnets.list_models() for all "
            f"{len(_MODELS)} models."
        )
    return _MODELS[name]


def register_input_kwargs(name: str, min_side: int, **kwargs: Any) -> None:
    """Model ``name`` takes ``kwargs`` for inputs whose every side is at least ``min_side``
    (e.g. a small model's coarser stem: ``register_input_kwargs("convvit_n", 56,
    stem_stride=4)``)."""
    _INPUT_KWARGS[name] = (min_side, dict(kwargs))


def input_size_kwargs(name: str, input_size: int | Sequence[int] | None) -> dict[str, Any]:
    """The constructor arguments model ``name`` takes at ``input_size`` (a side or one side per
    dimension; None: the model's own defaults): those registered with
    :func:`register_input_kwargs` when every side reaches its ``min_side``, else none.

        input_size_kwargs("convvit_n", (64, 64))    # {"stem_stride": 4}
        input_size_kwargs("convvit_n", 28)          # {}
    """
    if input_size is None or name not in _INPUT_KWARGS:
        return {}
    sides = (input_size,) if isinstance(input_size, int) else tuple(input_size)
    min_side, kwargs = _INPUT_KWARGS[name]
    return dict(kwargs) if min(sides) >= min_side else {}
