"""BatchNorm conv pieces: conv-BN-act, stem, downsampling, (fused) MBConv; 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from hybridnets.layers import ConvDownsample, ConvStem, FusedMBConvBlock, MBConvBlock

SIZES = {2: (29, 31), 3: (27, 29, 31)}


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("stride", [1, 2, 4])
def test_stem_shapes_at_odd_sizes(spatial_dims, stride):
    stem = ConvStem(1, 16, stride=stride, spatial_dims=spatial_dims)
    x = torch.rand(2, 1, *SIZES[spatial_dims])
    expected = tuple(-(-s // stride) for s in SIZES[spatial_dims])  # ceil: nothing cropped
    assert stem(x).shape == (2, 16, *expected)


def test_stem_learns_from_raw_intensities():
    """BatchNorm absorbs the input scale: raw intensities at any scale give the same output."""
    stem = ConvStem(1, 16, spatial_dims=2).train()
    x = torch.rand(4, 1, 16, 16)
    torch.testing.assert_close(stem(x * 255), stem(x * 4095), atol=1e-3, rtol=1e-3)


def test_stem_rejects_unknown_stride():
    with pytest.raises(ValueError, match="stride must be 1, 2 or 4"):
        ConvStem(1, 16, stride=3)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_downsample_rounds_up(spatial_dims):
    down = ConvDownsample(8, 16, spatial_dims)
    x = torch.randn(2, 8, *([7] * spatial_dims))
    assert down(x).shape == (2, 16, *([4] * spatial_dims))


@pytest.mark.parametrize("block_cls", [MBConvBlock, FusedMBConvBlock])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_block_is_identity_at_init_and_trains_at_batch_1(block_cls, spatial_dims):
    block = block_cls(16, spatial_dims)
    x = torch.randn(1, 16, *SIZES[spatial_dims])
    block.eval()
    torch.testing.assert_close(block(x), x)  # zero-initialised last BatchNorm
    block.train()
    y = block(x)
    (y * torch.randn_like(y)).sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    torch.optim.SGD(block.parameters(), lr=0.1).step()
    assert not torch.allclose(block.eval()(x), x)


def test_mbconv_without_se_has_no_se_parameters():
    assert not any("se." in n for n, _ in MBConvBlock(16, se_ratio=0).named_parameters())
