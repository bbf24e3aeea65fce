"""Masks on the patch grid and the same mask at any feature grid."""

from __future__ import annotations

import pytest
import torch

from hybridnets.pretrain.masking import patchify, random_visible, visible_at


@pytest.mark.parametrize("grid", [(7, 7), (3, 4, 5)])
def test_random_visible_hides_the_asked_share_of_every_sample(grid) -> None:
    visible = random_visible(6, grid, 0.6, torch.Generator().manual_seed(0))
    n = torch.tensor(grid).prod().item()
    assert visible.shape == (6, *grid) and visible.dtype == torch.bool
    assert (visible.flatten(1).logical_not().sum(1) == round(0.6 * n)).all()
    assert not torch.equal(visible[0], visible[1])  # each sample its own mask


def test_random_visible_refuses_bad_ratio_and_tiny_grid() -> None:
    with pytest.raises(ValueError, match=r"mask ratio must be in \(0, 1\)"):
        random_visible(2, (4, 4), 1.0)
    with pytest.raises(ValueError, match=r"fewer than 2 patches.*smaller mask patch"):
        random_visible(2, (1, 1), 0.5)


def test_visible_at_spreads_patches_to_pixels_and_pools_any_visible() -> None:
    visible = torch.tensor([[[True, False], [False, False]]])  # (1, 2, 2) grid, 4 px patches
    px = visible_at(visible, (8, 8), (8, 8))
    assert px.shape == (1, 1, 8, 8) and px[0, 0, :4, :4].all() and px[0, 0, 4:].sum() == 0
    fine = visible_at(visible, (4, 4), (8, 8))  # stem-like grid: each cell inside one patch
    assert torch.equal(fine[0, 0], torch.tensor([[1.0, 1, 0, 0], [1, 1, 0, 0], [0] * 4, [0] * 4]))
    coarse = visible_at(visible, (1, 1), (8, 8))  # one cell covering a visible patch: visible
    assert coarse.item() == 1.0


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_patchify_groups_each_patch_pixels(spatial_dims) -> None:
    x = torch.randn(2, 3, *([8] * spatial_dims))
    patches = patchify(x, 4)
    assert patches.shape == (2, *([2] * spatial_dims), 4**spatial_dims * 3)
    first = x[(slice(None), slice(None), *([slice(0, 4)] * spatial_dims))]  # (2, 3, 4, ..)
    assert torch.equal(
        patches[(slice(None), *([0] * spatial_dims))].sort(-1).values,
        first.flatten(1).sort(-1).values,
    )
    with pytest.raises(ValueError, match="not a multiple of the mask patch 3"):
        patchify(x, 3)
