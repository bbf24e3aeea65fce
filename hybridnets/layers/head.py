"""Classifier head for any ``spatial_dims``: global average pool → LayerNorm → dropout → linear."""

from __future__ import annotations

from torch import Tensor, nn


class PooledHead(nn.Module):
    """Pool ``(B, C, *S)`` over space, normalise, classify. Names match timm ConvNeXt's head.

    ``PooledHead(768, 2)(torch.randn(4, 768, 3, 3, 3)).shape == (4, 2)``
    """

    def __init__(self, dim: int, num_classes: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def reset(self, num_classes: int) -> None:
        """Replace the classifier (0 removes it)."""
        dim = self.norm.normalized_shape[0]
        self.fc = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.norm(x.mean(tuple(range(2, x.ndim))))  # (B, C)
        return x if pre_logits else self.fc(self.drop(x))
