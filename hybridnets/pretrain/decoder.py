"""Light decoder of masked image modelling: encoder maps → pixels of every patch, 2D and 3D.

Each encoder map it reads (at the mask grid or coarser, ``upscales[i]`` mask patches per cell
and dim) is projected to ``dim · upscale^d`` channels and pixel-shuffled onto the mask grid, so a
coarse cell predicts a different vector for each patch it covers (small inputs: a 28 px image
has a 2×2 last map and a 7×7 mask grid); the maps are summed, masked positions add a learned
token, then ``depth`` conv-BN-GELU blocks and a 1^d conv predict each patch's pixels.
ConvNeXt V2's FCMAE decoder is the one-map (upscale 1), one-block case.

    decoder = MaskedDecoder((256,), (4,), spatial_dims=2, patch_pixels=16, dim=128)
    pred = decoder([last_map], visible, grid=(7, 7))     # (B, 16, 7, 7)
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
        upscales: Mask patches per cell of each map, per dim (its stride / the mask patch).
        spatial_dims: 2 or 3.
        patch_pixels: Values per patch (``patch^d · in_chans``).
        dim: Decoder width.
        depth: Residual 3^d conv-BN-GELU blocks after the sum.
    """

    def __init__(
        self,
        in_dims: Sequence[int],
        upscales: Sequence[int],
        spatial_dims: int,
        patch_pixels: int,
        dim: int = 128,
        depth: int = 1,
    ) -> None:
        super().__init__()
        self.dim, self.upscales = dim, tuple(upscales)
        self.proj = nn.ModuleList(
            conv_nd(spatial_dims, c, dim * f**spatial_dims, kernel_size=1)
            for c, f in zip(in_dims, upscales)
        )
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
            self._shuffle(proj(m), f, grid) for proj, m, f in zip(self.proj, maps, self.upscales)
        )  # (B, dim, *grid)
        x = x + self.mask_token * (1 - visible)  # marks masked positions, keeps their context
        return self.pred(self.blocks(x))

    def _shuffle(self, x: Tensor, f: int, grid: Sequence[int]) -> Tensor:
        """``(B, dim · f^d, *S)`` → ``(B, dim, *grid)``: each cell's ``f^d`` sub-vectors laid out
        over the patches it covers (N-D pixel shuffle), cropped to the mask grid (downsampling
        rounds sizes up, so ``S · f >= grid``); a map that still does not fit is resampled."""
        b, d, spatial = x.shape[0], x.ndim - 2, x.shape[2:]
        if f > 1:
            x = x.reshape(b, self.dim, *([f] * d), *spatial)  # (B, dim, f, .., f, *S)
            order = [0, 1]
            for i in range(d):
                order += [2 + d + i, 2 + i]  # (S_i, f) pairs
            x = x.permute(order).reshape(b, self.dim, *(s * f for s in spatial))
        if all(s >= g for s, g in zip(x.shape[2:], grid)):
            return x[(slice(None), slice(None), *(slice(0, g) for g in grid))]
        return F.interpolate(x, size=tuple(grid), mode="nearest")
