"""Global multi-head self-attention with a clipped relative position bias, any ``spatial_dims``.

The CoAtNet / MaxViT "grid" stage: every token attends to every token of the map. The bias table
covers offsets up to ``rel_pos_size − 1`` per dim (``7`` matches Swin-T's last stage) and clips
beyond, so any map size works. The map is one window of the window-attention op, which gathers
the bias from the table and the (cached) index instead of materialising an ``(H, N, N)`` bias.
"""

from __future__ import annotations

from torch import Tensor

from hybridnets import ops
from hybridnets.layers.dims import to_tuple
from hybridnets.layers.heads_projection import MultiHeadProjections
from hybridnets.layers.rel_pos import RelativePositionBias


class GlobalAttention(MultiHeadProjections):
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
        super().__init__(dim, num_heads, qkv_bias)
        self.rpb = RelativePositionBias(
            num_heads, to_tuple(rel_pos_size, spatial_dims, "rel_pos_size")
        )

    def forward(self, x: Tensor) -> Tensor:
        size = tuple(x.shape[1:-1])
        tokens = x.flatten(1, -2)  # (B, L, C); no reshape(b, -1, c): a batch of 0 has no L
        q, k, v = self.split_heads(tokens)  # 3 × (B, H, L, Dh), one window per map
        index = self.rpb.index(size)  # (L, L)
        out = ops.window_attention(q, k, v, self.rpb.table(), index)  # (B, H, L, Dh)
        return self.merge_heads(out).view(x.shape)
