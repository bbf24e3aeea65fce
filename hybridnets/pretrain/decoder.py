"""Light decoder of masked image modelling: encoder maps → pixels of every patch, 2D and 3D.

The maps of the encoder's stages at the mask grid or coarser are projected to one width, brought
to the mask grid and summed (a feature-pyramid sum, so small inputs whose last map is coarser
than the mask grid can still place their predictions), masked positions add a learned token,
then ``depth`` conv-BN-GELU blocks and a 1^d conv predict each patch's pixels. ConvNeXt V2's
FCMAE decoder is the one-map, one-block case.

    decoder = MaskedDecoder((64, 128, 256), spatial_dims=2, patch_pixels=16, dim=128)
    pred = decoder([f1, f2, f3], visible, grid=(7, 7))     # (B, 16, 7, 7)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from torch import Tensor, nn

from hybridnets.layers import ConvNormAct
from hybridnets.layers.dims import conv_nd

__all__ = ["MaskedDecoder"]


class _Residual(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class MaskedDecoder(nn.Module):
    """Predicts the ``patch_pixels`` values of every patch on the mask grid.

    Args:
        in_dims: Channels of the encoder maps it reads (finest first).
        spatial_dims: 2 or 3.
        patch_pixels: Values per patch (``patch^d · in_chans``).
        dim: Decoder width.
        depth: Residual 3^d conv-BN-GELU blocks after the sum.
    """

    def __init__(
        self,
        in_dims: Sequence[int],
        spatial_dims: int,
        patch_pixels: int,
        dim: int = 128,
        depth: int = 1,
    ) -> None:
        super().__init__()
        self.proj = nn.ModuleList(conv_nd(spatial_dims, c, dim, kernel_size=1) for c in in_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, dim, *([1] * spatial_dims)))
        self.blocks = nn.Sequential(
            *(
                _Residual(ConvNormAct(dim, dim, spatial_dims, kernel_size=3, act_layer="gelu"))
                for _ in range(depth)
            )
        )
        self.pred = conv_nd(spatial_dims, dim, patch_pixels, kernel_size=1)
        trunc_normal_(self.mask_token, std=0.02)

    def forward(self, maps: Sequence[Tensor], visible: Tensor, grid: Sequence[int]) -> Tensor:
        """``maps`` ``[(B, C_i, *S_i)]`` and ``visible`` ``(B, 1, *grid)`` (1 = visible) →
        ``(B, patch_pixels, *grid)``."""
        x = sum(
            F.interpolate(proj(m), size=tuple(grid), mode="nearest")
            for proj, m in zip(self.proj, maps)
        )  # (B, dim, *grid)
        x = x + self.mask_token * (1 - visible)  # marks masked positions, keeps their context
        return self.pred(self.blocks(x))
