"""Multi-head split and merge, and the qkv/output projections every attention layer shares."""

from __future__ import annotations

from torch import Tensor, nn


def check_heads(dim: int, num_heads: int) -> None:
    """Raise ``ValueError`` unless ``dim`` splits evenly into ``num_heads`` heads."""
    if num_heads < 1 or dim % num_heads:
        raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")


def split_heads(x: Tensor, num_heads: int, parts: int = 1) -> Tensor:
    """``(B, L, parts·H·Dh)`` → ``(parts, B, H, L, Dh)``: ``parts`` stacked tensors (q, k, v)."""
    b, n, c = x.shape
    return x.view(b, n, parts, num_heads, c // (parts * num_heads)).permute(2, 0, 3, 1, 4)


def merge_heads(x: Tensor) -> Tensor:
    """``(B, H, L, Dh)`` → ``(B, L, H·Dh)``."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)  # no -1: an empty batch has no size to infer


class MultiHeadProjections(nn.Module):
    """``qkv`` and ``proj`` linears (timm / Swin key names) with head split and merge.

    Subclasses compute ``ops.*attention(*self.split_heads(tokens), ...)`` and finish with
    :meth:`merge_heads`.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def split_heads(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(B, L, C)`` → q, k, v, each ``(B, H, L, C / H)``."""
        q, k, v = split_heads(self.qkv(tokens), self.num_heads, parts=3).unbind(0)
        return q, k, v

    def merge_heads(self, out: Tensor) -> Tensor:
        """``(B, H, L, Dh)`` → projected ``(B, L, H·Dh)``."""
        return self.proj(merge_heads(out))
