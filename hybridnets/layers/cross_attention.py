"""Cross-attention fusion of image features with context tokens, and bidirectional co-attention.

Image tokens attend to context tokens (text embeddings, one token per clinical variable, or a
second imaging modality). The residual is gated by ``tanh(gate)`` with the gate initialised to
zero (Alayrac et al., "Flamingo", NeurIPS 2022), so inserting a fusion block into a trained
network leaves its output unchanged until the gate learns to open.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hybridnets import ops
from hybridnets.layers.heads_projection import check_heads, merge_heads, split_heads


class CrossAttention(nn.Module):
    """Multi-head attention from query tokens ``(B, Lq, dim)`` to context ``(B, Lk, context_dim)``.

    ``CrossAttention(256, 768, 8)(img_tokens, text_tokens, key_padding_mask=pad)``
    """

    def __init__(
        self, dim: int, context_dim: int | None = None, num_heads: int = 8, qkv_bias: bool = True
    ) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(context_dim or dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """Args: x ``(B, Lq, dim)``; context ``(B, Lk, context_dim)``; key_padding_mask bool
        ``(B, Lk)``, True where the context token is padding. Returns ``(B, Lq, dim)``."""
        q = split_heads(self.q(x), self.num_heads)[0]  # (B, H, Lq, Dh)
        k, v = split_heads(self.kv(context), self.num_heads, parts=2).unbind(
            0
        )  # 2 × (B, H, Lk, Dh)
        out = ops.attention(q, k, v, key_padding_mask=key_padding_mask)  # (B, H, Lq, Dh)
        return self.proj(merge_heads(out))  # (B, Lq, dim)


class CrossAttentionFusion(nn.Module):
    """Gated cross-attention from a channels-first feature map ``(B, C, *S)`` to context tokens.

    ``out = x + tanh(gate) · CrossAttention(norm(x), norm_ctx(context))``; gate starts at 0 so
    the block starts as the identity.

    ``CrossAttentionFusion(384, context_dim=768)(feat, text, key_padding_mask=pad)``
    """

    def __init__(
        self, dim: int, context_dim: int | None = None, num_heads: int = 8, qkv_bias: bool = True
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(context_dim or dim)
        self.attn = CrossAttention(dim, context_dim, num_heads, qkv_bias)
        self.gate = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor, context: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        b, c, *size = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, L, C)
        mixed = self.attn(self.norm(tokens), self.norm_context(context), key_padding_mask)
        update = mixed.transpose(1, 2).reshape(b, c, *size)  # (B, C, *S)
        return x + self.gate.tanh() * update


class CoAttention(nn.Module):
    """Bidirectional co-attention between two token sets (e.g. image and text, PET and CT).

    Each side attends to the other with its own zero-initialised tanh gate.

    ``a, b = CoAttention(256, 512)(img_tokens, txt_tokens, b_padding_mask=pad)``
    """

    def __init__(self, dim_a: int, dim_b: int, num_heads: int = 8) -> None:
        super().__init__()
        self.norm_a = nn.LayerNorm(dim_a)
        self.norm_b = nn.LayerNorm(dim_b)
        self.a_from_b = CrossAttention(dim_a, dim_b, num_heads)
        self.b_from_a = CrossAttention(dim_b, dim_a, num_heads)
        self.gate_a = nn.Parameter(torch.zeros(()))
        self.gate_b = nn.Parameter(torch.zeros(()))

    def forward(
        self,
        a: Tensor,
        b: Tensor,
        a_padding_mask: Tensor | None = None,
        b_padding_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Args: a ``(B, La, dim_a)``, b ``(B, Lb, dim_b)``, optional bool padding masks
        (True = padding). Returns the updated ``(a, b)``."""
        na, nb = self.norm_a(a), self.norm_b(b)
        a_new = a + self.gate_a.tanh() * self.a_from_b(na, nb, b_padding_mask)
        b_new = b + self.gate_b.tanh() * self.b_from_a(nb, na, a_padding_mask)
        return a_new, b_new
