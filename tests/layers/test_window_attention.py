"""Shifted-window attention, 2D and 3D: shapes, timm Swin equivalence, global equivalence, masks."""

from __future__ import annotations

import warnings

import pytest
import torch
from timm.models.swin_transformer import SwinTransformerBlock

from hybridnets.layers import (
    GlobalAttention,
    TransformerBlock,
    WindowAttention,
    relative_position_index,
    shift_region_ids,
)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("shift", [0, 1])
@pytest.mark.parametrize("size", [6, 5, 2])  # multiple of window, padded, smaller than window
def test_shapes_and_backward(spatial_dims, shift, size):
    attn = WindowAttention(16, 2, spatial_dims, window_size=3, shift_size=shift)
    x = torch.randn(2, *([size] * spatial_dims), 16, requires_grad=True)
    y = attn(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert attn.rpb.relative_position_bias_table.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("shift", [0, 3])
def test_block_equals_timm_swin_block(shift):
    theirs = SwinTransformerBlock(32, (14, 14), num_heads=4, window_size=7, shift_size=shift).eval()
    ours = TransformerBlock(32, WindowAttention(32, 4, 2, window_size=7, shift_size=shift)).eval()
    state = {
        k.replace("attn.relative_position_bias_table", "attn.rpb.relative_position_bias_table"): v
        for k, v in theirs.state_dict().items()
    }
    ours.load_state_dict(state)
    x = torch.randn(2, 14, 14, 32)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("size", [3, 2])  # whole map in one window, and a clipped window
def test_window_covering_map_equals_global_attention(spatial_dims, size):
    window = WindowAttention(16, 2, spatial_dims, window_size=3, shift_size=1)
    glob = GlobalAttention(16, 2, spatial_dims, rel_pos_size=3)
    glob.load_state_dict(window.state_dict())  # same keys: qkv, proj, rpb table
    x = torch.randn(2, *([size] * spatial_dims), 16)
    torch.testing.assert_close(window(x), glob(x))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_shifted_windows_do_not_mix_across_region_borders(spatial_dims):
    """With shift, the wrapped-around corner of the rolled map must not see the opposite edge."""
    attn = WindowAttention(8, 1, spatial_dims, window_size=2, shift_size=1).eval()
    size = 4
    x = torch.randn(1, *([size] * spatial_dims), 8)
    y = attn(x)
    # Token at the far corner: after rolling by −1 its window holds tokens from index 0 (wrapped).
    corner = (0, *([size - 1] * spatial_dims))
    x2 = x.clone()
    x2[(0, *([0] * spatial_dims))] += 10.0  # the opposite corner, same window after the roll
    y2 = attn(x2)
    torch.testing.assert_close(y[corner], y2[corner])
    # Tokens 1 and 2 share a window and a region after the roll: they do see each other.
    query, neighbour = (0, *([1] * spatial_dims)), (0, *([2] * spatial_dims))
    x3 = x.clone()
    x3[neighbour] += 10.0
    assert not torch.allclose(attn(x3)[query], y[query])


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_padding_is_masked(spatial_dims):
    """A 4-wide map padded to 6 with window 3: the last window's real tokens ignore padding, so
    the output equals attention on that real sub-window alone."""
    attn = WindowAttention(8, 2, spatial_dims, window_size=3).eval()
    x = torch.randn(1, *([4] * spatial_dims), 8)
    y = attn(x)
    glob = GlobalAttention(8, 2, spatial_dims, rel_pos_size=3)
    glob.load_state_dict(attn.state_dict())
    corner = x[
        (slice(None), *([slice(3, 4)] * spatial_dims))
    ]  # the 1^d real part of the last window
    torch.testing.assert_close(y[(slice(None), *([slice(3, 4)] * spatial_dims))], glob(corner))


def test_rejects_bad_heads_and_window():
    with pytest.raises(ValueError, match="divisible"):
        WindowAttention(10, 3)
    with pytest.raises(ValueError, match="window_size"):
        WindowAttention(8, 2, spatial_dims=3, window_size=(3, 3))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_region_ids_and_index_are_cached_per_size(spatial_dims):
    """Built once per size as non-persistent buffers: reused, rebuilt for a new size, never
    saved, and never changing the output."""
    attn = WindowAttention(8, 2, spatial_dims, window_size=3, shift_size=1).eval()
    keys = set(attn.state_dict())
    d = spatial_dims
    x = torch.randn(1, *([5] * d), 8)
    y = attn(x)
    ids, index = attn.region_ids, attn.rpb.relative_position_index
    assert torch.equal(ids, shift_region_ids((6,) * d, (3,) * d, (1,) * d, (5,) * d))
    assert torch.equal(index, relative_position_index((3,) * d, (3,) * d))
    torch.testing.assert_close(attn(x), y)
    assert attn.region_ids is ids and attn.rpb.relative_position_index is index  # reused
    attn(torch.randn(2, *([4] * d), 8))  # new size, same window: new ids, same index
    assert torch.equal(attn.region_ids, shift_region_ids((6,) * d, (3,) * d, (1,) * d, (4,) * d))
    assert attn.rpb.relative_position_index is index
    attn(torch.randn(1, *([2] * d), 8))  # window clipped to the map: no shift, new index
    assert attn.region_ids is None
    assert torch.equal(
        attn.rpb.relative_position_index, relative_position_index((2,) * d, (3,) * d)
    )
    assert set(attn.state_dict()) == keys
    fresh = WindowAttention(8, 2, spatial_dims, window_size=3, shift_size=1).eval()
    fresh.load_state_dict(attn.state_dict())  # strict: no cache keys expected or written
    torch.testing.assert_close(attn(x), fresh(x))
    torch.testing.assert_close(attn(x), y)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_empty_batch(spatial_dims):
    attn = WindowAttention(8, 2, spatial_dims, window_size=3, shift_size=1)
    x = torch.randn(0, *([5] * spatial_dims), 8, requires_grad=True)  # shifted and padded
    y = attn(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad.shape == x.shape


@pytest.mark.parametrize(
    ("export_size", "sizes"),
    [((4, 5), [(6, 6), (7, 9)]), ((4, 4, 4), [(6, 6, 6), (5, 6, 7)])],
    ids=["2d", "3d"],
)
def test_torch_export_serves_padded_and_aligned_sizes(export_size, sizes):
    """Exported at a size that needs padding, one program runs sizes that do and do not."""
    attn = WindowAttention(8, 2, len(export_size), window_size=3, shift_size=1).eval()
    x = torch.randn(2, *export_size, 8)
    dynamic = {"x": {d: torch.export.Dim.DYNAMIC for d in range(1, 1 + len(export_size))}}
    exported = torch.export.export(attn, (x,), dynamic_shapes=dynamic).module()
    for size in sizes:
        y = torch.randn(2, *size, 8)
        torch.testing.assert_close(exported(y), attn(y))


@pytest.mark.parametrize("shift", [0, 1])
def test_jit_trace_computes_padding_per_input(shift):
    """Traced at a size that needs no padding, the graph still pads and masks other sizes."""
    attn = WindowAttention(8, 2, 2, window_size=3, shift_size=shift).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and tracer warnings
        traced = torch.jit.trace(attn, torch.randn(1, 6, 6, 8), check_trace=False)
    for size in [(6, 6), (7, 8), (9, 5)]:
        x = torch.randn(1, *size, 8)
        torch.testing.assert_close(traced(x), attn(x))
