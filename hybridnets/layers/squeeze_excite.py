"""Squeeze-and-excitation channel gate for any ``spatial_dims``.

Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018. timm's ``SEModule`` pools over
``(2, 3)`` only; this one pools over every spatial dim, so one class serves 2D and 3D.
"""

from __future__ import annotations

from timm.layers import make_divisible
from torch import Tensor, nn


class SqueezeExcite(nn.Module):
    """Global average pool → FC → act → FC → sigmoid gate on the channels of ``(B, C, *S)``.

    Args:
        dim: Channels of the gated input.
        rd_channels: Bottleneck width; default ``rd_ratio × rd_base`` (EfficientNet measures the
            ratio against the block's input width, passed in as ``rd_base``).
        rd_ratio: Bottleneck ratio.
        rd_base: Width the ratio applies to (default ``dim``).
        act_layer: Bottleneck activation.

    ``SqueezeExcite(64)(torch.randn(2, 64, 8, 8, 8))``
    """

    def __init__(
        self,
        dim: int,
        rd_channels: int | None = None,
        rd_ratio: float = 0.25,
        rd_base: int | None = None,
        act_layer: type[nn.Module] = nn.SiLU,
    ) -> None:
        super().__init__()
        rd = rd_channels or max(8, make_divisible((rd_base or dim) * rd_ratio, 8))
        self.fc1 = nn.Linear(dim, rd)
        self.act = act_layer()
        self.fc2 = nn.Linear(rd, dim)

    def forward(self, x: Tensor) -> Tensor:
        pooled = x.mean(tuple(range(2, x.ndim)))  # (B, C)
        gate = self.fc2(self.act(self.fc1(pooled))).sigmoid()
        return x * gate.view(*gate.shape, *([1] * (x.ndim - 2)))  # (B, C, *S)
