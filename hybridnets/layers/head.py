"""Classifier head for any ``spatial_dims``: global pool → norm → dropout → linear."""

from __future__ import annotations

from torch import Tensor, nn

from hybridnets.layers.dims import channels_first, channels_last
from hybridnets.layers.norm import BatchNormNd, LayerNormNd

HEAD_NORMS = ("layer", "batch")
POOL_TYPES = ("avg", "max", "avgmax", "")


class PooledHead(nn.Module):
    """Pool ``(B, C, *S)`` over space, normalise, classify. Names match timm ConvNeXt's head.

    ``norm="layer"`` (ConvNeXt's LayerNorm) normalises each sample over channels.
    ``norm="batch"`` (BatchNorm1d) standardises each pooled feature over the batch, which removes
    what all samples share; it matters on sparse medical inputs (masks, or scans that are mostly
    background), where the pooled features of every sample are dominated by the same background
    and a LayerNorm head learns very slowly (AdrenalMNIST3D: see benchmarks/results/medmnist.md).
    At batch 1 in training the batch-norm head normalises with its running statistics
    (:class:`hybridnets.layers.BatchNormNd`), so 3D users can train at batch 1.

    Both norms are channels-first for any rank, so they also normalise an unpooled map:
    ``pool_type=""`` (timm's ``global_pool=""``) keeps the map and classifies every position,
    ``(B, C, *S)`` → ``(B, num_classes, *S)``.

    ``PooledHead(768, 2)(torch.randn(4, 768, 3, 3, 3)).shape == (4, 2)``
    """

    def __init__(
        self,
        dim: int,
        num_classes: int,
        drop_rate: float = 0.0,
        norm: str = "layer",
        pool_type: str = "avg",
    ) -> None:
        super().__init__()
        if norm not in HEAD_NORMS:
            raise ValueError(f"head norm must be one of {HEAD_NORMS}, got {norm!r}")
        self.in_features = dim
        self.pool_type = _check_pool_type(pool_type)
        self.norm = LayerNormNd(dim) if norm == "layer" else BatchNormNd(dim)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def reset(self, num_classes: int, pool_type: str | None = None) -> None:
        """Replace the classifier (0 removes it) and, if given, the pooling."""
        if pool_type is not None:
            self.pool_type = _check_pool_type(pool_type)
        self.fc = nn.Linear(self.in_features, num_classes) if num_classes > 0 else nn.Identity()

    def pool(self, x: Tensor) -> Tensor:
        """``(B, C, *S)`` → ``(B, C)``; unchanged for ``pool_type=""``."""
        dims = tuple(range(2, x.ndim))
        if self.pool_type == "avg":
            return x.mean(dims)
        if self.pool_type == "max":
            return x.amax(dims)
        if self.pool_type == "avgmax":
            return 0.5 * (x.mean(dims) + x.amax(dims))
        return x

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.norm(self.pool(x))  # (B, C), or (B, C, *S) unpooled
        if pre_logits:
            return x
        return channels_first(self.fc(channels_last(self.drop(x))))  # per position if unpooled


def _check_pool_type(pool_type: str) -> str:
    if pool_type not in POOL_TYPES:
        raise ValueError(f"global_pool must be one of {POOL_TYPES}, got {pool_type!r}")
    return pool_type
