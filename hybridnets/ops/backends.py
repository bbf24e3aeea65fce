"""Attention backends: each states what it supports and why it refuses (xformers style).

backend = SDPABackend()
if not backend.not_supported_reasons(request):
    out = backend.run(request)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from hybridnets.ops.reference import attention_reference, region_mask, window_attention_reference
from hybridnets.ops.request import AttentionRequest, Reason, ReasonCode, Request


class Backend(Protocol):
    """What a backend implements."""

    name: str

    def not_supported_reasons(self, request: Request) -> list[Reason]:
        """Every reason this backend cannot run ``request`` (empty: it can)."""
        ...

    def run(self, request: Request) -> Tensor:
        """The attention output of ``request``."""
        ...


@dataclass(frozen=True)
class ReferenceBackend:
    """The plain PyTorch specification: runs everywhere, materialises every N×N tensor."""

    name: str = "reference"

    def not_supported_reasons(self, request: Request) -> list[Reason]:
        """None: the reference runs whatever PyTorch can compute."""
        return []

    def run(self, request: Request) -> Tensor:
        """Run :func:`window_attention_reference` or :func:`attention_reference`."""
        reference = {
            "window_attention": window_attention_reference,
            "attention": attention_reference,
        }
        return reference[request.op](*request.args())


@dataclass(frozen=True)
class SDPABackend:
    """``F.scaled_dot_product_attention`` with the bias and masks materialised as ``attn_mask``.

    This is what timm's Swin does. With a bias, PyTorch cannot use its flash kernel and falls
    back to the memory-efficient or math kernel.
    """

    name: str = "sdpa"

    def not_supported_reasons(self, request: Request) -> list[Reason]:
        """SDPA must exist and accept the dtype."""
        reasons = []
        if not hasattr(F, "scaled_dot_product_attention"):
            message = f"torch {torch.__version__} has no scaled_dot_product_attention"
            reasons.append(Reason(ReasonCode.SDPA_UNAVAILABLE, message))
        dtype = request.q.dtype
        if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            message = f"dtype {dtype} is not a floating type SDPA accepts"
            reasons.append(Reason(ReasonCode.DTYPE, message))
        return reasons

    def run(self, request: Request) -> Tensor:
        """Materialise the mask (:func:`sdpa_inputs`) and call SDPA."""
        q, k, v, mask = sdpa_inputs(request)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=request.scale)
        return out.reshape(request.q.shape)  # (B·nW, H, N, D) from (B, nW·H, N, D); 4D stays


def sdpa_inputs(request: Request) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """The 4D ``q, k, v, attn_mask`` that :class:`SDPABackend` passes to SDPA.

    Windowed attention: the ``(H, N, N)`` bias gathered from the table, and with region ids
    the ``(nW·H, N, N)`` bias with ``-inf`` across regions and q, k, v as ``(B, nW·H, N, D)``
    (a copy: windows and heads become one dim). Always 4D: PyTorch's fused SDPA kernels and
    the ONNX exporter (``dynamo=True``) take nothing else. Global / cross attention: the bias,
    ``-inf`` at padded keys (a bool mask, True = attend, when there is no bias).
    """
    q, k, v = request.q, request.k, request.v
    if isinstance(request, AttentionRequest):
        mask = None if request.bias is None else request.bias.to(q.dtype)
        if request.key_padding_mask is not None:
            pad = request.key_padding_mask[:, None, None, :]  # (B, 1, 1, Lk)
            mask = ~pad if mask is None else mask.masked_fill(pad, float("-inf"))
        return q, k, v, mask
    bias = request.rpb_table[:, request.rel_index].to(q.dtype)  # (H, N, N)
    if request.region_ids is None:
        return q, k, v, bias
    bw, h, n, d = q.shape
    nw = request.region_ids.shape[0]
    blocked = region_mask(request.region_ids)[:, None]  # (nW, 1, N, N)
    mask = bias[None].masked_fill(blocked, float("-inf")).view(nw * h, n, n)  # (nW·H, N, N)
    merged = (bw // nw, nw * h, n, d)  # (B, nW·H, N, D)
    return q.reshape(merged), k.reshape(merged), v.reshape(merged), mask
