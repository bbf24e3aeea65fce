"""Channels-first LayerNorm for any rank."""

from __future__ import annotations

import pytest
import torch
from timm.layers import LayerNorm2d

from hybridnets.layers import BatchNormNd, LayerNormNd


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
def test_normalises_over_channels(spatial_dims):
    norm = LayerNormNd(8)
    x = torch.randn(2, 8, *([3] * spatial_dims)) * 5 + 2
    y = norm(x)
    torch.testing.assert_close(y.mean(1), torch.zeros_like(y.mean(1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        y.var(1, unbiased=False), torch.ones_like(y.mean(1)), atol=1e-3, rtol=0
    )


def test_equals_timm_layernorm2d():
    ours, theirs = LayerNormNd(8), LayerNorm2d(8)
    with torch.no_grad():
        ours.weight.normal_()
        ours.bias.normal_()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("spatial_dims", [0, 1, 2, 3])
def test_batchnorm_nd_equals_torch_batchnorm(spatial_dims):
    torch_bn = {0: torch.nn.BatchNorm1d, 1: torch.nn.BatchNorm1d, 2: torch.nn.BatchNorm2d}.get(
        spatial_dims, torch.nn.BatchNorm3d
    )(8)
    ours = BatchNormNd(8)
    ours.load_state_dict(torch_bn.state_dict())
    x = torch.randn(4, 8, *([3] * spatial_dims)) * 3 + 1
    torch.testing.assert_close(ours(x), torch_bn(x))
    torch.testing.assert_close(ours.running_mean, torch_bn.running_mean)
    ours.eval(), torch_bn.eval()
    torch.testing.assert_close(ours(x), torch_bn(x))


@pytest.mark.parametrize("shape", [(1, 8), (1, 8, 1, 1, 1)])
def test_batchnorm_nd_single_value_per_channel_uses_running_stats(shape):
    norm = BatchNormNd(8).train()
    with torch.no_grad():
        norm.running_mean.fill_(2.0)
        norm.running_var.fill_(4.0)
    x = torch.full(shape, 4.0)
    y = norm(x)  # torch's BatchNorm raises "Expected more than 1 value per channel"
    torch.testing.assert_close(y, torch.ones_like(y), atol=1e-3, rtol=0)
    assert (norm.running_mean == 2.0).all() and (norm.running_var == 4.0).all()
    with pytest.raises(ValueError):
        torch.nn.BatchNorm1d(8).train()(torch.randn(1, 8))
