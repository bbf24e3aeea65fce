"""Attention pooling: learned queries, or a provided query such as a text embedding.

Lee et al., "Set Transformer" (PMA), ICML 2019; the CLIP / CoCa attentional pooler.
"""

from __future__ import annotations

import torch
from timm.layers import trunc_normal_
from torch import Tensor, nn

from hybridnets.layers.cross_attention import CrossAttention


class AttentionPool(nn.Module):
    """Pool tokens ``(B, L, dim)`` into ``num_queries`` vectors by attention.

    Args:
        dim: Token channels (and output channels).
        num_heads: Attention heads.
        num_queries: Learned queries used when no query is given.
        query_dim: Channels of a provided query (e.g. a text embedding); defaults to ``dim``.

    ``AttentionPool(768)(feat.flatten(2).transpose(1, 2)).shape == (B, 768)``
    """

    def __init__(
        self, dim: int, num_heads: int = 8, num_queries: int = 1, query_dim: int | None = None
    ) -> None:
        super().__init__()
        query_dim = query_dim or dim
        self.query = nn.Parameter(torch.zeros(num_queries, query_dim))
        trunc_normal_(self.query, std=0.02)
        self.query_proj = nn.Linear(query_dim, dim) if query_dim != dim else nn.Identity()
        self.norm = nn.LayerNorm(dim)
        self.attn = CrossAttention(dim, dim, num_heads)

    def forward(
        self, x: Tensor, query: Tensor | None = None, key_padding_mask: Tensor | None = None
    ) -> Tensor:
        """Args: x ``(B, L, dim)``; query ``(B, Q, query_dim)`` or ``(B, query_dim)`` or None
        (learned); key_padding_mask ``(B, L)`` bool. Returns ``(B, dim)`` for one query, else
        ``(B, Q, dim)``."""
        if query is None:
            query = self.query.expand(x.shape[0], -1, -1)  # (B, Q, query_dim)
        squeeze = query.ndim == 2 or query.shape[1] == 1
        query = self.query_proj(query.view(x.shape[0], -1, query.shape[-1]))  # (B, Q, dim)
        out = self.attn(query, self.norm(x), key_padding_mask)  # (B, Q, dim)
        return out[:, 0] if squeeze else out
