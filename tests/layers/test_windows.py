"""Window partition/reverse and shifted-window region ids, 2D and 3D."""

from __future__ import annotations

import pytest
import torch
from timm.models.swin_transformer import SwinTransformerBlock

from hybridnets.layers import shift_region_ids, window_partition, window_reverse
from hybridnets.ops.reference import region_mask


@pytest.mark.parametrize(
    ("size", "window"), [((6, 9), (3, 3)), ((4, 6, 8), (2, 3, 4)), ((7, 7), (7, 7))]
)
def test_partition_reverse_roundtrip(size, window):
    x = torch.randn(2, *size, 5)
    windows = window_partition(x, window)
    n_windows = 1
    for s, w in zip(size, window):
        n_windows *= s // w
    assert windows.shape == (2 * n_windows, torch.tensor(window).prod().item(), 5)
    torch.testing.assert_close(window_reverse(windows, window, size), x)


def test_partition_groups_contiguous_tokens():
    x = torch.arange(16.0).view(1, 4, 4, 1)
    windows = window_partition(x, (2, 2))[..., 0]
    assert windows[0].tolist() == [0.0, 1.0, 4.0, 5.0]
    assert windows[3].tolist() == [10.0, 11.0, 14.0, 15.0]


def test_region_ids_reproduce_timm_swin_shift_mask():
    block = SwinTransformerBlock(
        dim=8, input_resolution=(14, 14), num_heads=2, window_size=7, shift_size=3
    )
    timm_blocked = block.attn_mask != 0  # (nW, N, N)
    ids = shift_region_ids((14, 14), (7, 7), (3, 3), (14, 14))
    assert torch.equal(region_mask(ids), timm_blocked)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_region_ids_mark_padding(spatial_dims):
    padded, window, valid = (6,) * spatial_dims, (3,) * spatial_dims, (5,) * spatial_dims
    ids = shift_region_ids(padded, window, (0,) * spatial_dims, valid)
    grid = torch.ones(padded, dtype=torch.bool)
    grid[(slice(0, 5),) * spatial_dims] = False  # False = real token
    expected = window_partition(grid[None, ..., None], window)[..., 0]
    assert torch.equal(ids == -1, expected)
    assert (ids[~expected] == 0).all()


def test_region_ids_shift_and_padding_3d():
    ids = shift_region_ids((6, 6, 6), (3, 3, 3), (1, 1, 1), (5, 6, 4))
    assert ids.shape == (8, 27)
    # each real token shares its region with at least itself; padding never shares with real
    blocked = region_mask(ids)
    real = ids >= 0
    assert not (~blocked & (real[:, :, None] ^ real[:, None, :])).any()
    assert (ids >= 0).sum() == 5 * 6 * 4


@pytest.mark.parametrize(
    ("size", "window", "shift"),
    [
        ((6, 6, 6), (3, 3, 3), (1, 1, 1)),
        ((4, 6, 8), (2, 3, 4), (1, 1, 2)),
        ((6, 8), (3, 4), (1, 2)),
    ],
)
def test_partition_and_shift_mask_match_monai_swin_unetr(size, window, shift):
    """MONAI's ``compute_mask`` (3D and 2D) blocks exactly what our region ids block, window by
    window in the same order as its ``window_partition``."""
    swin_unetr = pytest.importorskip("monai.networks.nets.swin_unetr")
    x = torch.randn(2, *size, 5)
    torch.testing.assert_close(
        window_partition(x, window), swin_unetr.window_partition(x, window), rtol=0, atol=0
    )
    theirs = swin_unetr.compute_mask(size, window, shift, torch.device("cpu")) != 0  # (nW, N, N)
    assert torch.equal(region_mask(shift_region_ids(size, window, shift, size)), theirs)
