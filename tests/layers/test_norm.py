"""Channels-first LayerNorm for any rank."""

from __future__ import annotations

import pytest
import torch
from timm.layers import LayerNorm2d

from hybridnets.layers import LayerNormNd


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
