"""What a caller asks of an attention backend, and why a backend can refuse it.

A request carries one call's inputs (xformers' ``Inputs``); a backend's
``not_supported_reasons(request)`` returns :class:`Reason` objects whose :class:`ReasonCode` is
what code matches on, and whose message is what people read.

    request = AttentionRequest(q, k, v, key_padding_mask=pad)
    reasons = TritonBackend().not_supported_reasons(request)
    if any(r.code is ReasonCode.DEVICE for r in reasons): ...
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor


class ReasonCode(enum.Enum):
    """Why a backend cannot run a request."""

    TRITON_UNAVAILABLE = "triton-unavailable"
    SDPA_UNAVAILABLE = "sdpa-unavailable"
    RANK = "rank"
    DEVICE = "device"
    DEVICE_MISMATCH = "device-mismatch"
    DTYPE = "dtype"
    DTYPE_MISMATCH = "dtype-mismatch"
    DTYPE_ON_DEVICE = "dtype-on-device"
    HEAD_DIM = "head-dim"
    HEAD_DIM_MISMATCH = "head-dim-mismatch"
    EMPTY = "empty"
    SHAPE_MISMATCH = "shape-mismatch"
    RPB_TABLE = "rpb-table"
    REL_INDEX = "rel-index"
    REGION_IDS = "region-ids"
    BIAS = "bias"
    KEY_PADDING_MASK = "key-padding-mask"
    SELF_CHECK_FAILED = "self-check-failed"
    ONNX_EXPORT = "onnx-export"


@dataclass(frozen=True)
class Reason:
    """One reason to refuse: a code to match on and a message for people.

    Attributes:
        code: What is wrong, for code.
        message: What is wrong, in words (what ``str(reason)`` gives).
    """

    code: ReasonCode
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class WindowAttentionRequest:
    """Inputs of one windowed-attention call; shapes as in
    :func:`hybridnets.ops.reference.window_attention_reference`.

    Attributes:
        q: Queries ``(B·nW, H, N, D)``; k, v: keys and values of the same shape.
        rpb_table: Relative position bias table ``(H, T)``.
        rel_index: Integer ``(N, N)`` index into the table.
        region_ids: Optional integer ``(nW, N)`` region ids.
        scale: Logit scale; ``D ** -0.5`` if None.
    """

    op: ClassVar[str] = "window_attention"

    q: Tensor
    k: Tensor
    v: Tensor
    rpb_table: Tensor
    rel_index: Tensor
    region_ids: Tensor | None = None
    scale: float | None = None

    def args(self) -> tuple[Tensor | float | None, ...]:
        """The fields in the order every ``window_attention*`` function takes them."""
        return (self.q, self.k, self.v, self.rpb_table, self.rel_index, self.region_ids, self.scale)


@dataclass(frozen=True)
class AttentionRequest:
    """Inputs of one global or cross attention call; shapes as in
    :func:`hybridnets.ops.reference.attention_reference`.

    Attributes:
        q: Queries ``(B, H, Lq, D)``; k, v: keys and values ``(B, H, Lk, D)``.
        bias: Optional additive bias broadcastable to ``(B, H, Lq, Lk)``.
        key_padding_mask: Optional bool ``(B, Lk)``, True where the key is padding.
        scale: Logit scale; ``D ** -0.5`` if None.
    """

    op: ClassVar[str] = "attention"

    q: Tensor
    k: Tensor
    v: Tensor
    bias: Tensor | None = None
    key_padding_mask: Tensor | None = None
    scale: float | None = None

    def args(self) -> tuple[Tensor | float | None, ...]:
        """The fields in the order every ``attention*`` function takes them."""
        return (self.q, self.k, self.v, self.bias, self.key_padding_mask, self.scale)


Request = WindowAttentionRequest | AttentionRequest
REQUESTS: dict[str, type[WindowAttentionRequest] | type[AttentionRequest]] = {
    "window_attention": WindowAttentionRequest,
    "attention": AttentionRequest,
}
