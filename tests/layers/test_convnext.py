"""ConvNeXt stem, block and downsampling, 2D and 3D; the 2D block equals timm's."""

from __future__ import annotations

import pytest
import torch
from timm.models.convnext import ConvNeXtBlock as TimmConvNeXtBlock

from hybridnets.layers import CBAM, ConvNeXtBlock, ConvNeXtStem, Downsample


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("kind", ["patch", "overlap"])
@pytest.mark.parametrize("stride", [1, 2, 4])
def test_stem_reduces_by_stride(spatial_dims, kind, stride):
    x = torch.randn(2, 1, *([16] * spatial_dims))
    y = ConvNeXtStem(1, 8, stride, spatial_dims, kind)(x)
    assert y.shape == (2, 8, *([16 // stride] * spatial_dims))


def test_stem_rejects_bad_arguments():
    with pytest.raises(ValueError, match="stride"):
        ConvNeXtStem(3, 8, stride=3)
    with pytest.raises(ValueError, match="kind"):
        ConvNeXtStem(3, 8, kind="conv")


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_downsample_halves_and_floors(spatial_dims):
    y = Downsample(4, 8, spatial_dims)(torch.randn(1, 4, *([7] * spatial_dims)))
    assert y.shape == (1, 8, *([3] * spatial_dims))


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("gate", [None, CBAM])
def test_block_shape_and_backward(spatial_dims, gate):
    block = ConvNeXtBlock(16, spatial_dims, ls_init_value=1.0, drop_path=0.1, gate_layer=gate)
    x = torch.randn(2, 16, *([5] * spatial_dims), requires_grad=True)
    y = block(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert all(p.grad is not None for p in block.parameters())


def test_block_equals_timm_convnext_block():
    ours = ConvNeXtBlock(16, 2, ls_init_value=0.5).eval()
    theirs = TimmConvNeXtBlock(16, ls_init_value=0.5).eval()
    state = {k.replace("ls.gamma", "gamma"): v for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state)
    x = torch.randn(2, 16, 9, 9)
    torch.testing.assert_close(ours(x), theirs(x))
