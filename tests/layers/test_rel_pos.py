"""Relative position index and bias, 2D and 3D."""

from __future__ import annotations

import pytest
import torch
from timm.models.swin_transformer import get_relative_position_index

from hybridnets.layers import RelativePositionBias, relative_position_index


def test_index_matches_timm_swin():
    assert torch.equal(relative_position_index((7, 7), (7, 7)), get_relative_position_index(7, 7))


@pytest.mark.parametrize("window", [(3, 3), (2, 3, 4)])
def test_index_is_a_bijection_on_offsets(window):
    index = relative_position_index(window, window)
    coords = torch.stack(torch.meshgrid(*[torch.arange(w) for w in window], indexing="ij")).flatten(
        1
    )
    offsets = (coords[:, :, None] - coords[:, None, :]).flatten(1).T  # (N·N, d)
    flat = index.flatten()
    for value in flat.unique():
        assert len({tuple(o) for o in offsets[flat == value].tolist()}) == 1
    assert index.diagonal().unique().numel() == 1  # zero offset → one entry


def test_offsets_beyond_table_clip_to_edge():
    index = relative_position_index((9,), (3,))
    assert index.min() == 0 and index.max() == 4  # (2·3 − 1) entries
    assert index[0, 8] == index[0, 2]  # offset −8 and −2 both clip to −2


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_bias_shape_and_grad(spatial_dims):
    rpb = RelativePositionBias(4, (3,) * spatial_dims)
    bias = rpb.bias((2,) * spatial_dims)
    assert bias.shape == (4, 2**spatial_dims, 2**spatial_dims)
    bias.sum().backward()
    assert rpb.relative_position_bias_table.grad.abs().sum() > 0


@pytest.mark.parametrize("window", [(7, 7, 7), (2, 3, 4)])
def test_index_3d_matches_monai_swin_unetr(window):
    """MONAI's SwinUNETR writes the 3D index by hand; ours is the same N-D formula."""
    swin_unetr = pytest.importorskip("monai.networks.nets.swin_unetr")
    theirs = swin_unetr.WindowAttention(dim=8, num_heads=2, window_size=window)
    assert torch.equal(relative_position_index(window, window), theirs.relative_position_index)
