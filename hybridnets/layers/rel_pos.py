"""Learned relative position bias for windows or whole maps, any number of spatial dims.

Swin's table of ``∏(2w_i − 1)`` entries per head; offsets beyond the table clip to its edge, so
one table serves a window, a smaller clipped window, or a global map larger than it. The index
for a grid is cached as the non-persistent buffer ``relative_position_index`` (Swin's name).
"""

from __future__ import annotations

import torch
from timm.layers import trunc_normal_
from torch import Tensor, nn

from hybridnets.layers.cache import cached_buffer


def relative_position_index(
    grid: tuple[int, ...], table_window: tuple[int, ...], device: torch.device | None = None
) -> Tensor:
    """``(N, N)`` int64 index into a ``∏(2w−1)`` table for the tokens of ``grid`` (N = ∏grid).

    Matches timm's Swin index when ``grid == table_window``: row-major over dims, offsets
    ``c_i − c_j`` shifted by ``w − 1``. Offsets beyond ``±(w − 1)`` are clipped.
    """
    coords = torch.stack(
        torch.meshgrid(*[torch.arange(g, device=device) for g in grid], indexing="ij")
    ).flatten(1)  # (d, N)
    w = torch.tensor(table_window, device=device)[:, None, None]  # (d, 1, 1)
    rel = (coords[:, :, None] - coords[:, None, :]).clamp(-(w - 1), w - 1) + (w - 1)  # (d, N, N)
    index = torch.zeros_like(rel[0])
    for d in range(len(grid)):
        index = index * (2 * table_window[d] - 1) + rel[d]
    return index


class RelativePositionBias(nn.Module):
    """A ``(T, H)`` table (timm's layout) with its index for any grid.

    ``rpb = RelativePositionBias(4, (7, 7)); rpb.bias((7, 7)).shape == (4, 49, 49)``
    """

    def __init__(self, num_heads: int, window_size: tuple[int, ...]) -> None:
        super().__init__()
        self.window_size = tuple(window_size)
        size = 1
        for w in self.window_size:
            size *= 2 * w - 1
        self.relative_position_bias_table = nn.Parameter(torch.zeros(size, num_heads))
        trunc_normal_(self.relative_position_bias_table, std=0.02)

    def table(self) -> Tensor:
        """The table as ``(H, T)``, the layout the attention ops take."""
        return self.relative_position_bias_table.t()

    def index(self, grid: tuple[int, ...]) -> Tensor:
        """``(N, N)`` index for the tokens of ``grid``, built once per grid and kept as the
        non-persistent buffer ``relative_position_index`` (not in the state dict)."""
        grid = tuple(grid)
        device = self.relative_position_bias_table.device
        return cached_buffer(
            self,
            "relative_position_index",
            grid,
            lambda: relative_position_index(grid, self.window_size, device),
        )

    def bias(self, grid: tuple[int, ...]) -> Tensor:
        """The materialised ``(H, N, N)`` bias for ``grid`` (for global attention)."""
        return self.table()[:, self.index(grid)]
