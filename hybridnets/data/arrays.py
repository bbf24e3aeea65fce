"""In-memory labelled image arrays: uint8 ``(N, C, *S)`` images, their standardisation and any
extra per-sample inputs (clinical tokens), shared by MedMNIST files and image tables.

    ds.set_normalization(*train_ds.channel_stats())
    x = ds.normalize(ds.images[index])          # float (B, C, *S)
    x = ds.batch(index, size=64, device="cuda")  # the same, resized, where the model runs
    extra = ds.extra_inputs(index)              # () for images alone
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from hybridnets.data.images import resize

__all__ = ["ImageArray"]


class ImageArray:
    """Base of a split held in memory. Subclasses set ``images`` (uint8 ``(N, C, *S)``),
    ``labels`` (long ``(N,)``), ``num_classes``, ``in_chans``, ``spatial_shape`` and ``name``."""

    images: Tensor
    labels: Tensor
    num_classes: int
    in_chans: int
    spatial_shape: tuple[int, ...]
    name: str
    mean: Tensor | None = None
    std: Tensor | None = None

    @property
    def spatial_dims(self) -> int:
        """2 for images, 3 for volumes."""
        return len(self.spatial_shape)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def extra_inputs(self, index: Tensor) -> tuple[Tensor, ...]:
        """Model inputs beside the images for samples ``index`` (none here)."""
        return ()

    def _channel_stat(self, value: float | Sequence[float] | None, what: str) -> Tensor | None:
        """A mean/std as a tensor broadcastable to ``(C, *S)``."""
        if value is None:
            return None
        stat = torch.as_tensor(value, dtype=torch.float32).reshape(-1)
        if stat.numel() not in (1, self.in_chans):
            raise ValueError(f"{what} has {stat.numel()} values for {self.in_chans} channel(s)")
        return stat.reshape(-1, *([1] * self.spatial_dims))

    def set_normalization(
        self, mean: float | Sequence[float] | None, std: float | Sequence[float] | None
    ) -> ImageArray:
        """Use ``(x - mean) / std`` after scaling to [0, 1] (None: leave out that step)."""
        self.mean = self._channel_stat(mean, "mean")
        self.std = self._channel_stat(std, "std")
        return self

    def channel_stats(self, chunk: int = 256) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of this split's images scaled to [0, 1]."""
        total = torch.zeros(self.in_chans, dtype=torch.float64)
        squares = torch.zeros_like(total)
        reduce = (0, *range(2, self.images.ndim))
        for start in range(0, len(self), chunk):
            x = self.images[start : start + chunk].double() / 255  # (b, C, *S)
            total += x.sum(reduce)
            squares += x.square().sum(reduce)
        count = self.images.numel() / self.in_chans
        mean = total / count
        std = (squares / count - mean.square()).clamp_min(1e-12).sqrt()
        return mean.tolist(), std.tolist()

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 ``(..., C, *S)`` -> float in [0, 1], then ``(x - mean) / std`` if set."""
        x = images.float().div_(255.0)
        if self.mean is not None:
            x = x - self.mean
        if self.std is not None:
            x = x / self.std
        return x

    def batch(
        self, index: Tensor, size: int | None = None, device: torch.device | str = "cpu"
    ) -> Tensor:
        """uint8 images at ``index`` → standardised float batch ``(B, C, *S)`` on ``device``,
        resized (bi/trilinear) to ``size`` per side when given and different."""
        x = self.normalize(self.images[index].to(device))
        return resize(x, size) if size is not None else x
