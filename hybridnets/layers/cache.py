"""Tensors derived from an input size, cached on the module as non-persistent buffers.

Relative-position indices and shifted-window region ids depend only on the map size, so they are
built once per size and kept as buffers: they move with ``.to(device)``, never enter the state
dict (checkpoints stay as they were), and are rebuilt when the size changes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import torch
from torch import Tensor, nn


def cached_buffer(
    module: nn.Module, name: str, key: Hashable, build: Callable[[], Tensor | None]
) -> Tensor | None:
    """The buffer ``name`` of ``module`` if it was built for ``key``, else ``build()``, kept.

    One entry per name: a new ``key`` (another input size) replaces the old tensor, and so does
    leaving ``torch.inference_mode()`` (its tensors cannot be saved for backward). Under
    ``torch.compile``, ``torch.export`` and ``torch.jit.trace`` the tensor is built into the graph,
    never looked up nor stored: comparing a symbolic or traced size with the cached key would pin
    the graph to that size, and tracing never mutates the module.

    ``index = cached_buffer(self, "relative_position_index", grid, lambda: make_index(grid))``
    """
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return build()
    key_attr = f"_{name}_key"  # a plain attribute, so module copies (DataParallel) keep their own
    cached = module._buffers.get(name)
    # a tensor built under torch.inference_mode() cannot enter autograd: rebuild it outside
    usable = cached is not None and (torch.is_inference_mode_enabled() or not cached.is_inference())
    if usable and getattr(module, key_attr, None) == key:
        return cached
    value = build()
    module.register_buffer(name, value, persistent=False)
    setattr(module, key_attr, key)
    return value
