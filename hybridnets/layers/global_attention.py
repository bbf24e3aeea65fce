"""Global multi-head self-attention with a clipped relative position bias, any ``spatial_dims``.

The CoAtNet / MaxViT "grid" stage: every token attends to every token of the map. The bias table
covers offsets up to ``rel_pos_size − 1`` per dim (``7`` matches Swin-T's last stage) and clips
beyond, so any map size works.
"""

from __future__ import annotations

from torch import Tensor, nn

from hybridnets import ops
from hybridnets.layers.dims import to_tuple
from hybridnets.layers.rel_pos import RelativePositionBias


class GlobalAttention(nn.Module):
    """Full self-attention on a channels-last map ``(B, *S, C)``.

    ``GlobalAttention(768, 24, spatial_dims=2)(torch.randn(1, 7, 7, 768))``
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        spatial_dims: int = 2,
        rel_pos_size: int | tuple[int, ...] = 7,
        qkv_bias: bool = True,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.rpb = RelativePositionBias(
            num_heads, to_tuple(rel_pos_size, spatial_dims, "rel_pos_size")
        )

    def forward(self, x: Tensor) -> Tensor:
        b, *size, c = x.shape
        tokens = x.reshape(b, -1, c)  # (B, L, C)
        qkv = self.qkv(tokens).view(b, tokens.shape[1], 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 × (B, H, L, Dh)
        out = ops.attention(q, k, v, bias=self.rpb.bias(tuple(size)))  # (B, H, L, Dh)
        return self.proj(out.transpose(1, 2).reshape(b, -1, c)).view(x.shape)
