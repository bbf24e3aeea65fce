"""In-memory labelled image arrays: uint8 ``(N, C, *S)`` images with labels and any extra
per-sample inputs (clinical tokens), shared by MedMNIST files and image tables; storage,
statistics and standardised batches come from :class:`~hybridnets.data.in_memory.InMemoryImages`.

    ds.set_normalization(*train_ds.channel_stats())
    x = ds.normalize(ds.images[index])              # float (B, C, *S)
    x = ds.batch(index, device="cuda", size=64)     # the same, resized, where the model runs
    extra = ds.extra_inputs(index)                  # () for images alone
"""

from __future__ import annotations

from torch import Tensor

from hybridnets.data.in_memory import InMemoryImages

__all__ = ["ImageArray"]


class ImageArray(InMemoryImages):
    """Base of a labelled split held in memory. Subclasses set ``images`` (uint8
    ``(N, C, *S)``), ``labels`` (long ``(N,)``), ``num_classes`` and ``name``."""

    labels: Tensor
    num_classes: int
    name: str

    def extra_inputs(self, index: Tensor) -> tuple[Tensor, ...]:
        """Model inputs beside the images for samples ``index`` (none here)."""
        return ()
