"""Attention backends: each states what it supports and why it refuses (xformers style)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from hybridnets.ops.reference import attention_reference, region_mask, window_attention_reference


class Backend(Protocol):
    """What a backend implements. ``supports_*`` return the reasons it cannot run (empty: it can)."""

    name: str

    def supports_window_attention(self, q: Tensor, **kwargs) -> list[str]: ...

    def supports_attention(self, q: Tensor, **kwargs) -> list[str]: ...

    def window_attention(self, q, k, v, rpb_table, rel_index, region_ids, scale) -> Tensor: ...

    def attention(self, q, k, v, bias, key_padding_mask, scale) -> Tensor: ...


@dataclass(frozen=True)
class ReferenceBackend:
    """The plain PyTorch specification: runs everywhere, materialises every N×N tensor."""

    name: str = "reference"

    def supports_window_attention(self, q: Tensor, **kwargs) -> list[str]:
        return []

    def supports_attention(self, q: Tensor, **kwargs) -> list[str]:
        return []

    def window_attention(self, q, k, v, rpb_table, rel_index, region_ids, scale) -> Tensor:
        return window_attention_reference(q, k, v, rpb_table, rel_index, region_ids, scale)

    def attention(self, q, k, v, bias, key_padding_mask, scale) -> Tensor:
        return attention_reference(q, k, v, bias, key_padding_mask, scale)


@dataclass(frozen=True)
class SDPABackend:
    """``F.scaled_dot_product_attention`` with the bias and masks materialised as ``attn_mask``.

    This is what timm's Swin does. With a bias, PyTorch cannot use its flash kernel and falls
    back to the memory-efficient or math kernel.
    """

    name: str = "sdpa"

    def supports_window_attention(self, q: Tensor, **kwargs) -> list[str]:
        return _common_sdpa_reasons(q)

    def supports_attention(self, q: Tensor, **kwargs) -> list[str]:
        return _common_sdpa_reasons(q)

    def window_attention(self, q, k, v, rpb_table, rel_index, region_ids, scale) -> Tensor:
        bw, h, n, d = q.shape
        mask = rpb_table[:, rel_index].to(q.dtype)  # (H, N, N)
        if region_ids is None:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
        nw = region_ids.shape[0]
        blocked = region_mask(region_ids)[:, None]  # (nW, 1, N, N)
        mask = mask[None].masked_fill(blocked, float("-inf"))  # (nW, H, N, N)
        split = (bw // nw, nw, h, n, d)  # (B, nW, H, N, D)
        out = F.scaled_dot_product_attention(
            q.view(split), k.view(split), v.view(split), attn_mask=mask, scale=scale
        )
        return out.view(bw, h, n, d)

    def attention(self, q, k, v, bias, key_padding_mask, scale) -> Tensor:
        mask = None if bias is None else bias.to(q.dtype)
        if key_padding_mask is not None:
            pad = key_padding_mask[:, None, None, :]  # (B, 1, 1, Lk)
            mask = (
                ~pad if mask is None else mask.masked_fill(pad, float("-inf"))
            )  # bool mask: True = attend
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


def _common_sdpa_reasons(q: Tensor) -> list[str]:
    reasons = []
    if not hasattr(F, "scaled_dot_product_attention"):
        reasons.append(f"torch {torch.__version__} has no scaled_dot_product_attention")
    if q.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        reasons.append(f"dtype {q.dtype} is not a floating type SDPA accepts")
    return reasons
