"""Pure-PyTorch attention: the specification every other backend must match.

Shapes follow the Swin convention of a batch of windows: ``B·nW`` windows, ``H`` heads,
``N`` tokens per window, ``D`` channels per head. Windows are ordered batch-major
(window ``i`` belongs to image ``i // nW`` and is window ``i % nW`` of that image).

A query with no key to attend to (every key padding, or ``-inf`` in the bias for every key)
gets a zero output, and no gradient flows through it: its row of the softmax is zeros rather
than NaN. Every backend follows this.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """Softmax in fp32 for half types, in the input dtype for fp32/fp64."""
    return torch.promote_types(dtype, torch.float32)


def masked_softmax(logits: Tensor) -> Tensor:
    """Softmax over the last dim; a row whose every logit is ``-inf`` gives zeros (not NaN),
    with a zero gradient and no NaN in the backward either."""
    empty = logits.amax(dim=-1, keepdim=True) == float("-inf")  # (…, Lq, 1) no key to attend to
    return logits.masked_fill(empty, 0.0).softmax(dim=-1).masked_fill(empty, 0.0)


def region_mask(region_ids: Tensor) -> Tensor:
    """Boolean ``(nW, N, N)`` mask, True where query ``i`` may *not* attend to key ``j``.

    Two tokens of a window may attend to each other iff they carry the same region id. A padded
    token gets its own id, so real tokens never see padding.
    """
    return region_ids[:, :, None] != region_ids[:, None, :]


def window_attention_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    rpb_table: Tensor,
    rel_index: Tensor,
    region_ids: Tensor | None = None,
    scale: float | None = None,
) -> Tensor:
    """Windowed attention with a learned relative position bias and a region (shift) mask.

    ``out = softmax(q·kᵀ·scale + table[h, rel_index] + mask) · v``

    Args:
        q: Queries ``(B·nW, H, N, D)``.
        k: Keys ``(B·nW, H, N, D)``.
        v: Values ``(B·nW, H, N, D)``.
        rpb_table: Relative position bias table ``(H, T)``.
        rel_index: Integer ``(N, N)`` index into the table's second dim.
        region_ids: Optional integer ``(nW, N)`` region id per token; tokens attend only within
            their region (shifted windows, padding).
        scale: Logit scale; ``D ** -0.5`` if None.

    Returns:
        ``(B·nW, H, N, D)`` in the dtype of ``q``.
    """
    bw, h, n, d = q.shape
    scale = d**-0.5 if scale is None else scale
    acc = _accumulation_dtype(q.dtype)
    logits = ((q * scale) @ k.transpose(-2, -1)).to(acc)  # (B·nW, H, N, N)
    logits = logits + rpb_table.to(acc)[:, rel_index]  # + (H, N, N)
    if region_ids is not None:
        nw = region_ids.shape[0]
        masked = region_mask(region_ids)[None, :, None]  # (1, nW, 1, N, N)
        logits = logits.view(bw // nw, nw, h, n, n).masked_fill(masked, float("-inf"))
        logits = logits.view(bw, h, n, n)
    return masked_softmax(logits).to(v.dtype) @ v


def attention_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    bias: Tensor | None = None,
    key_padding_mask: Tensor | None = None,
    scale: float | None = None,
) -> Tensor:
    """Global or cross attention with an optional additive bias and key padding.

    Args:
        q: Queries ``(B, H, Lq, D)``.
        k: Keys ``(B, H, Lk, D)``.
        v: Values ``(B, H, Lk, D)``.
        bias: Optional additive bias broadcastable to ``(B, H, Lq, Lk)`` (e.g. a relative
            position bias ``(H, Lq, Lk)``); it may require grad.
        key_padding_mask: Optional bool ``(B, Lk)``, True where the key is padding (ignored),
            as in ``nn.MultiheadAttention``. A sequence whose every key is padding gets zeros.
        scale: Logit scale; ``D ** -0.5`` if None.

    Returns:
        ``(B, H, Lq, D)`` in the dtype of ``q``.
    """
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    acc = _accumulation_dtype(q.dtype)
    logits = ((q * scale) @ k.transpose(-2, -1)).to(acc)  # (B, H, Lq, Lk)
    if bias is not None:
        logits = logits + bias.to(acc)
    if key_padding_mask is not None:
        logits = logits.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
    return masked_softmax(logits).to(v.dtype) @ v
