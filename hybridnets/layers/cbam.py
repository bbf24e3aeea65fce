"""CBAM: channel gate then spatial gate, for any ``spatial_dims``.

Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018. The gates here are
``2·sigmoid`` with zero-initialised last layers, so CBAM starts as the identity: a CBAM-gated
ConvNeXt block starts as the plain block and ConvNeXt weights reproduce ConvNeXt's output
(the paper's ``sigmoid`` gates would halve each branch twice at init).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hybridnets.layers.dims import conv_nd


class CBAM(nn.Module):
    """Channel attention (avg + max pooled MLP) followed by spatial attention (k^d conv).

    Each gate is ``2·sigmoid(logits)`` in (0, 2), exactly 1 at init (:meth:`init_weights`).

    Args:
        dim: Channels of the channels-first input ``(B, C, *S)``.
        spatial_dims: 2 or 3.
        reduction: Channel MLP reduction ratio.
        kernel_size: Spatial gate kernel size.

    ``CBAM(64, spatial_dims=3)(torch.randn(2, 64, 8, 8, 8))``
    """

    def __init__(
        self, dim: int, spatial_dims: int = 2, reduction: int = 16, kernel_size: int = 7
    ) -> None:
        super().__init__()
        hidden = max(dim // reduction, 8)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, dim)
        self.spatial = conv_nd(spatial_dims, 2, 1, kernel_size, padding=kernel_size // 2)
        self.init_weights()

    def init_weights(self) -> None:
        """Zero the last layer of each gate, so both gates are exactly 1 (identity)."""
        for layer in (self.fc2, self.spatial):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def channel_gate(self, x: Tensor) -> Tensor:
        """Per-channel weights in (0, 2), shape ``(B, C, 1, …)``."""
        dims = tuple(range(2, x.ndim))
        pooled = torch.stack([x.mean(dims), x.amax(dims)])  # (2, B, C)
        logits = self.fc2(self.act(self.fc1(pooled))).sum(0)  # (B, C)
        return 2 * logits.sigmoid().view(*logits.shape, *([1] * len(dims)))

    def spatial_gate(self, x: Tensor) -> Tensor:
        """Per-position weights in (0, 2), shape ``(B, 1, *S)``."""
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return 2 * self.spatial(pooled).sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        x = x * self.channel_gate(x)
        return x * self.spatial_gate(x)
