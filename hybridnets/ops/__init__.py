"""Attention operators behind one dispatcher: Triton kernels, PyTorch SDPA, or the reference.

Layers call :func:`window_attention` and :func:`attention`; they never import Triton.

    out = hybridnets.ops.attention(q, k, v, key_padding_mask=pad)
    with hybridnets.ops.use_backend("reference"):
        out = model(x)
"""

from __future__ import annotations

from torch import Tensor

from hybridnets.ops.dispatch import (
    BACKENDS,
    BackendUnavailableError,
    explain,
    requested_backend,
    select_backend,
    use_backend,
)
from hybridnets.ops.reference import attention_reference, window_attention_reference

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "attention",
    "attention_reference",
    "explain",
    "requested_backend",
    "select_backend",
    "use_backend",
    "window_attention",
    "window_attention_reference",
]


def window_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    rpb_table: Tensor,
    rel_index: Tensor,
    region_ids: Tensor | None = None,
    scale: float | None = None,
    backend: str | None = None,
) -> Tensor:
    """Windowed attention with relative position bias and region mask; see
    :func:`window_attention_reference` for shapes and semantics."""
    impl = select_backend(
        "window_attention",
        q,
        backend,
        k=k,
        v=v,
        rpb_table=rpb_table,
        rel_index=rel_index,
        region_ids=region_ids,
    )
    return impl.window_attention(q, k, v, rpb_table, rel_index, region_ids, scale)


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    bias: Tensor | None = None,
    key_padding_mask: Tensor | None = None,
    scale: float | None = None,
    backend: str | None = None,
) -> Tensor:
    """Global or cross attention with optional bias and key padding; see
    :func:`attention_reference` for shapes and semantics."""
    impl = select_backend(
        "attention", q, backend, k=k, v=v, bias=bias, key_padding_mask=key_padding_mask
    )
    return impl.attention(q, k, v, bias, key_padding_mask, scale)
