"""Global attention with relative position bias, 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from hybridnets import ops
from hybridnets.layers import GlobalAttention, relative_position_index
from hybridnets.ops import attention_reference


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("size", [2, 5])  # within the table, and beyond it (offsets clip)
def test_shapes_backward_and_backends_agree(spatial_dims, size):
    attn = GlobalAttention(16, 4, spatial_dims, rel_pos_size=3)
    x = torch.randn(2, *([size] * spatial_dims), 16, requires_grad=True)
    y = attn(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert attn.rpb.relative_position_bias_table.grad.abs().sum() > 0
    with ops.use_backend("reference"):
        torch.testing.assert_close(attn(x), y, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [(3, 4), (2, 3, 5)], ids=["2d", "3d"])
def test_matches_softmax_with_materialised_bias(size, monkeypatch):
    """One window through the window op equals ``softmax(q·kᵀ·s + table[:, index]) · v`` with
    the ``(H, N, N)`` bias built explicitly, and never builds that bias itself."""
    spatial_dims = len(size)
    attn = GlobalAttention(16, 4, spatial_dims, rel_pos_size=3).eval()
    with torch.no_grad():
        attn.rpb.relative_position_bias_table.normal_(std=1.0)
    x = torch.randn(2, *size, 16)
    q, k, v = attn.split_heads(x.reshape(2, -1, 16))
    index = relative_position_index(size, (3,) * spatial_dims)
    bias = attn.rpb.relative_position_bias_table.t()[:, index]  # (H, N, N)
    expected = attn.merge_heads(attention_reference(q, k, v, bias=bias)).view(x.shape)

    def no_materialised_bias(*args, **kwargs):
        raise AssertionError("GlobalAttention must not call ops.attention with a dense bias")

    monkeypatch.setattr(ops, "attention", no_materialised_bias)
    with torch.no_grad():
        torch.testing.assert_close(attn(x), expected, atol=1e-5, rtol=1e-5)


def test_index_is_cached_per_size_and_not_saved():
    attn = GlobalAttention(8, 2, 2, rel_pos_size=3)
    keys = set(attn.state_dict())
    attn(torch.randn(1, 4, 4, 8))
    cached = attn.rpb.relative_position_index
    assert torch.equal(cached, relative_position_index((4, 4), (3, 3)))
    attn(torch.randn(2, 4, 4, 8))
    assert attn.rpb.relative_position_index is cached  # same size: reused
    attn(torch.randn(1, 5, 3, 8))
    assert torch.equal(attn.rpb.relative_position_index, relative_position_index((5, 3), (3, 3)))
    assert set(attn.state_dict()) == keys  # non-persistent: checkpoints are unchanged
    GlobalAttention(8, 2, 2, rel_pos_size=3).load_state_dict(attn.state_dict())  # strict


def test_bias_breaks_permutation_symmetry():
    attn = GlobalAttention(8, 2, 2, rel_pos_size=3).eval()
    with torch.no_grad():
        attn.rpb.relative_position_bias_table.normal_(std=2.0)
    x = torch.randn(1, 3, 3, 8)
    flipped = attn(x.flip(1)).flip(1)
    assert not torch.allclose(attn(x), flipped, atol=1e-4)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_empty_batch(spatial_dims):
    attn = GlobalAttention(8, 2, spatial_dims, rel_pos_size=3)
    x = torch.randn(0, *([4] * spatial_dims), 8, requires_grad=True)
    y = attn(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad.shape == x.shape
