"""The qkv and output projections that window and global self-attention share."""

from __future__ import annotations

from torch import Tensor, nn


class MultiHeadProjections(nn.Module):
    """``qkv`` and ``proj`` linears (timm / Swin key names) with head split and merge.

    Subclasses compute ``ops.*attention(*self.split_heads(tokens), ...)`` and finish with
    :meth:`merge_heads`.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def split_heads(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(B, L, C)`` → q, k, v, each ``(B, H, L, C / H)``."""
        b, n, c = tokens.shape
        qkv = self.qkv(tokens).view(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def merge_heads(self, out: Tensor) -> Tensor:
        """``(B, H, L, Dh)`` → projected ``(B, L, H·Dh)``."""
        b, _, n, _ = out.shape
        return self.proj(out.transpose(1, 2).reshape(b, n, -1))
