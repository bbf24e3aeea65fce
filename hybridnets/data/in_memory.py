"""Images held in memory as one ``(N, C, *S)`` tensor, 2D or 3D, with one standardisation:
per-channel mean and population std of the images scaled to [0, 1] (std floored at
:data:`STD_FLOOR`), applied as ``(x - mean) / std``. Stored as uint8 (scaled by 1/255 per
batch) or as float in [0, 1]. The base of every in-memory dataset: labelled arrays
(:class:`~hybridnets.data.arrays.ImageArray`), unlabelled images
(:class:`~hybridnets.data.unlabelled.UnlabelledImages`) and image–text pairs
(:class:`~hybridnets.data.pairs.ImageTextPairs`).

    train.set_normalization(*train.channel_stats())   # the training split's statistics
    x = train.batch(index, device="cuda")              # float32 (B, C, *S), standardised
    x = standardize(raw, train.mean, train.std)        # the same for [0, 1] images from elsewhere
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch
from torch import Tensor

from hybridnets.data.images import resize

__all__ = ["STD_FLOOR", "InMemoryImages", "channel_stat", "standardize"]

STD_FLOOR = 1e-6
"""The smallest std a channel is divided by (a constant channel stays finite)."""

_Self = TypeVar("_Self", bound="InMemoryImages")


def channel_stat(
    value: float | Sequence[float] | Tensor | None,
    spatial_dims: int,
    in_chans: int | None = None,
    what: str = "a statistic",
) -> Tensor | None:
    """One value or one per channel as float32 ``(C, 1, ...)``, broadcastable to ``(C, *S)``
    and ``(B, C, *S)``; None stays None.

    Raises:
        ValueError: ``in_chans`` is given and the value count is neither 1 nor ``in_chans``.
    """
    if value is None:
        return None
    stat = torch.as_tensor(value, dtype=torch.float32).reshape(-1)
    if in_chans is not None and stat.numel() not in (1, in_chans):
        raise ValueError(f"{what} has {stat.numel()} values for {in_chans} channel(s)")
    return stat.reshape(-1, *([1] * spatial_dims))


def standardize(x: Tensor, mean: Tensor | None, std: Tensor | None) -> Tensor:
    """``(x - mean) / std`` for images in [0, 1] ``(..., C, *S)``, statistics as
    :func:`channel_stat` shapes them (moved to ``x``'s device); None leaves out that step."""
    if mean is not None:
        x = x - mean.to(x.device)
    if std is not None:
        x = x / std.to(x.device)
    return x


class InMemoryImages:
    """A set of images ``images`` ``(N, C, *S)``: uint8, or float in [0, 1]. Subclasses set
    ``images`` (a dataclass field or in ``__init__``); ``mean``/``std`` are None (no
    standardisation) until :meth:`set_normalization`."""

    images: Tensor
    mean: Tensor | None = None
    std: Tensor | None = None

    @property
    def spatial_dims(self) -> int:
        """2 for images, 3 for volumes."""
        return self.images.ndim - 2

    @property
    def in_chans(self) -> int:
        return self.images.shape[1]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[2:])

    def __len__(self) -> int:
        return self.images.shape[0]

    def channel_stats(
        self, index: Tensor | None = None, chunk: int = 256
    ) -> tuple[list[float], list[float]]:
        """Per-channel mean and population std (at least :data:`STD_FLOOR`) of the images at
        ``index`` (None: all) scaled to [0, 1], in double: uint8 images in chunks of ``chunk``
        (sums of x and x², no double copy of the set), float ones (already 4 bytes a value) in
        one pass."""
        images = self.images if index is None else self.images[index]
        reduce = (0, *range(2, images.ndim))
        if images.is_floating_point():  # float already: one pass
            x = images.double()
            mean, std = x.mean(reduce), x.std(reduce, correction=0)
        else:
            total = torch.zeros(self.in_chans, dtype=torch.float64)
            squares = torch.zeros_like(total)
            for start in range(0, len(images), chunk):
                x = images[start : start + chunk].double() / 255  # (b, C, *S)
                total += x.sum(reduce)
                squares += x.square().sum(reduce)
            count = images.numel() / self.in_chans
            mean = total / count
            std = (squares / count - mean.square()).clamp_min(0).sqrt()
        return mean.tolist(), std.clamp_min(STD_FLOOR).tolist()

    def set_normalization(
        self: _Self,
        mean: float | Sequence[float] | Tensor | None,
        std: float | Sequence[float] | Tensor | None,
    ) -> _Self:
        """Standardise with these statistics (one value or one per channel; None: leave out
        that step) from now on."""
        self.mean = channel_stat(mean, self.spatial_dims, self.in_chans, "mean")
        self.std = channel_stat(std, self.spatial_dims, self.in_chans, "std")
        return self

    def standardize(self, x: Tensor) -> Tensor:
        """Float images in [0, 1] ``(..., C, *S)`` standardised with this set's statistics."""
        return standardize(x, self.mean, self.std)

    def normalize(self, images: Tensor) -> Tensor:
        """Stored images ``(..., C, *S)`` → float32 in [0, 1] (uint8 scaled by 1/255), then
        :meth:`standardize`."""
        x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
        return self.standardize(x)

    def batch(
        self, index: Tensor, device: torch.device | str = "cpu", size: int | None = None
    ) -> Tensor:
        """The images at ``index`` standardised, float32 ``(B, C, *S)`` on ``device``,
        resized (bi/trilinear) to ``size`` per side when given and different."""
        x = self.normalize(self.images[index].to(device))
        return resize(x, size) if size is not None else x
