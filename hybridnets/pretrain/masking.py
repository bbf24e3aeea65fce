"""Random patch masks for masked image modelling, and the same mask seen at any feature grid.

A mask is drawn on the patch grid of the input (``mask_patch`` pixels per patch and dim) and
carried to every feature map by one rule, the one a sparse convolution follows: a position of a
coarser map stays visible if any visible patch falls in it, a position of a finer map takes the
patch it lies in (ConvNeXt V2's FCMAE, Woo et al., CVPR 2023; SimMIM, Xie et al., CVPR 2022).

    visible = random_visible(8, (7, 7), ratio=0.6)      # (8, 7, 7) bool, 60% False
    v = visible_at(visible, (14, 14), (28, 28))          # (8, 1, 14, 14) float
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["patchify", "pool_visible", "random_visible", "visible_at"]

_MAX_POOL = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}


def random_visible(
    batch: int,
    grid: Sequence[int],
    ratio: float,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """``(B, *grid)`` bool, True where a patch stays visible; exactly ``round(ratio · N)``
    patches of each sample are masked (at least one masked and one visible)."""
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio must be in (0, 1), got {ratio!r}")
    n = 1
    for g in grid:
        n *= g
    if n < 2:
        raise ValueError(
            f"a mask grid of {tuple(grid)} has fewer than 2 patches: use a smaller mask patch "
            "or a larger input"
        )
    n_masked = min(max(round(ratio * n), 1), n - 1)
    noise = torch.rand(batch, n, generator=generator).to(device)
    rank = noise.argsort(dim=1).argsort(dim=1)  # each patch's rank in its sample's noise
    return (rank >= n_masked).reshape(batch, *grid)  # the n_masked lowest are masked


def visible_at(visible: Tensor, size: Sequence[int], input_size: Sequence[int]) -> Tensor:
    """The patch mask seen at a map of ``size``: ``(B, 1, *size)`` float, 1 = visible.

    The mask is first spread over the ``input_size`` pixels (each patch over its pixels), then
    max-pooled to ``size``: a cell covering any visible pixel is visible.
    """
    v = visible[:, None].float()  # (B, 1, *grid)
    v = F.interpolate(v, size=tuple(input_size), mode="nearest")  # (B, 1, *input_size)
    return pool_visible(v, size)


def pool_visible(visible_pixels: Tensor, size: Sequence[int]) -> Tensor:
    """A pixel mask ``(B, 1, *S)`` (1 = visible) at a map of ``size``: ``(B, 1, *size)``, a cell
    visible when any of its pixels is."""
    if tuple(size) == tuple(visible_pixels.shape[2:]):
        return visible_pixels
    return _MAX_POOL[visible_pixels.ndim - 2](visible_pixels, tuple(size))


def patchify(x: Tensor, patch: int) -> Tensor:
    """``(B, C, *S)`` → ``(B, *S/patch, patch^d · C)``: the pixels of each patch, flattened."""
    spatial = x.shape[2:]
    if any(s % patch for s in spatial):
        raise ValueError(f"input size {tuple(spatial)} is not a multiple of the mask patch {patch}")
    d = len(spatial)
    grid = [s // patch for s in spatial]
    shape = [x.shape[0], x.shape[1]]
    for g in grid:
        shape += [g, patch]
    x = x.reshape(shape)  # (B, C, g1, p, g2, p, ...)
    grid_axes = [2 + 2 * i for i in range(d)]
    patch_axes = [3 + 2 * i for i in range(d)]
    x = x.permute(0, *grid_axes, *patch_axes, 1)  # (B, *grid, p, ..., p, C)
    return x.reshape(x.shape[0], *grid, -1)
