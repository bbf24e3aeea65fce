"""Classifier head for any ``spatial_dims``: global average pool → norm → dropout → linear."""

from __future__ import annotations

from torch import Tensor, nn

from hybridnets.layers.norm import BatchNormNd

HEAD_NORMS = ("layer", "batch")


class PooledHead(nn.Module):
    """Pool ``(B, C, *S)`` over space, normalise, classify. Names match timm ConvNeXt's head.

    ``norm="layer"`` (ConvNeXt's LayerNorm) normalises each sample over channels.
    ``norm="batch"`` (BatchNorm1d) standardises each pooled feature over the batch, which removes
    what all samples share; it matters on sparse medical inputs (masks, or scans that are mostly
    background), where the pooled features of every sample are dominated by the same background
    and a LayerNorm head learns very slowly (AdrenalMNIST3D: see benchmarks/results/medmnist.md).
    At batch 1 in training the batch-norm head normalises with its running statistics
    (:class:`hybridnets.layers.BatchNormNd`), so 3D users can train at batch 1.

    ``PooledHead(768, 2)(torch.randn(4, 768, 3, 3, 3)).shape == (4, 2)``
    """

    def __init__(
        self, dim: int, num_classes: int, drop_rate: float = 0.0, norm: str = "layer"
    ) -> None:
        super().__init__()
        if norm not in HEAD_NORMS:
            raise ValueError(f"head norm must be one of {HEAD_NORMS}, got {norm!r}")
        self.norm = nn.LayerNorm(dim, eps=1e-6) if norm == "layer" else BatchNormNd(dim)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def reset(self, num_classes: int) -> None:
        """Replace the classifier (0 removes it)."""
        dim = self.norm.weight.shape[0]
        self.fc = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.norm(x.mean(tuple(range(2, x.ndim))))  # (B, C)
        return x if pre_logits else self.fc(self.drop(x))
