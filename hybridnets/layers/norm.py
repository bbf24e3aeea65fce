"""Channels-first LayerNorm for any number of spatial dims (ConvNeXt's ``LayerNorm2d``, N-D)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from hybridnets.layers.dims import channels_first, channels_last


class LayerNormNd(nn.LayerNorm):
    """LayerNorm over the channel dim of a channels-first tensor ``(B, C, *S)``.

    ``LayerNormNd(64)(torch.randn(2, 64, 8, 8, 8))``. ``eps`` defaults to ConvNeXt's 1e-6.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, affine: bool = True) -> None:
        super().__init__(num_channels, eps=eps, elementwise_affine=affine)

    def forward(self, x: Tensor) -> Tensor:
        x = channels_last(x)  # (B, *S, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return channels_first(x)  # (B, C, *S)


class BatchNormNd(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the channel dim of ``(B, C, *S)`` for any rank (1D, 2D and 3D alike).

    In training, an input with a single value per channel (batch 1 after global pooling, or a
    1-voxel map at batch 1, common when 3D users train at batch 1–2) cannot give batch
    statistics: it is normalised with the running statistics instead (which are left as they
    are) rather than raising as ``nn.BatchNorm*d`` does. State-dict keys equal ``nn.BatchNorm*d``'s.

    ``BatchNormNd(64)(torch.randn(2, 64, 8, 8, 8))``
    """

    def _check_input_dim(self, x: Tensor) -> None:
        if x.ndim < 2:
            raise ValueError(f"BatchNormNd expects (B, C, *S), got shape {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.numel() <= x.shape[1]:  # one value per channel
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)
