"""Attention operators behind one dispatcher: Triton kernels, PyTorch SDPA, or the reference.

Layers call :func:`window_attention` and :func:`attention`; they never import Triton.

    out = hybridnets.ops.attention(q, k, v, key_padding_mask=pad)
    with hybridnets.ops.use_backend("reference"):
        out = model(x)
    hybridnets.ops.explain(hybridnets.ops.AttentionRequest(q, k, v))  # {backend: [reasons]}
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
from hybridnets.ops.request import (
    AttentionRequest,
    Reason,
    ReasonCode,
    Request,
    WindowAttentionRequest,
)

__all__ = [
    "BACKENDS",
    "AttentionRequest",
    "BackendUnavailableError",
    "Reason",
    "ReasonCode",
    "Request",
    "WindowAttentionRequest",
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
    :func:`window_attention_reference` for shapes and semantics. ``backend`` forces one
    (``"triton"``, ``"sdpa"``, ``"reference"``); None uses the one in force."""
    request = WindowAttentionRequest(q, k, v, rpb_table, rel_index, region_ids, scale)
    return select_backend(request, backend).run(request)


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
    :func:`attention_reference` for shapes and semantics. ``backend`` forces one
    (``"triton"``, ``"sdpa"``, ``"reference"``); None uses the one in force."""
    request = AttentionRequest(q, k, v, bias, key_padding_mask, scale)
    return select_backend(request, backend).run(request)
