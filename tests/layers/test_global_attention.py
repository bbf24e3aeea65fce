"""Global attention with relative position bias, 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from hybridnets import ops
from hybridnets.layers import GlobalAttention


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


def test_bias_breaks_permutation_symmetry():
    attn = GlobalAttention(8, 2, 2, rel_pos_size=3).eval()
    with torch.no_grad():
        attn.rpb.relative_position_bias_table.normal_(std=2.0)
    x = torch.randn(1, 3, 3, 8)
    flipped = attn(x.flip(1)).flip(1)
    assert not torch.allclose(attn(x), flipped, atol=1e-4)
