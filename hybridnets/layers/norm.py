"""Channels-first LayerNorm for any number of spatial dims (ConvNeXt's ``LayerNorm2d``, N-D)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class LayerNormNd(nn.LayerNorm):
    """LayerNorm over the channel dim of a channels-first tensor ``(B, C, *S)``.

    ``LayerNormNd(64)(torch.randn(2, 64, 8, 8, 8))``. ``eps`` defaults to ConvNeXt's 1e-6.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, affine: bool = True) -> None:
        super().__init__(num_channels, eps=eps, elementwise_affine=affine)

    def forward(self, x: Tensor) -> Tensor:
        x = x.movedim(1, -1)  # (B, *S, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.movedim(-1, 1)  # (B, C, *S)
