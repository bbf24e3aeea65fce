"""Model registry: ``@register_model`` lists a constructor here and in timm's registry.

@register_model
def convvit_t(**kwargs) -> ConvViT: ...

hybridnets.list_models("convvit_*")
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable

import timm.models
from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


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
