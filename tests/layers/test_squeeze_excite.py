"""Squeeze-excitation for any rank, against timm's 2D SEModule."""

from __future__ import annotations

import pytest
import torch
from timm.layers import SEModule

from hybridnets.layers import SqueezeExcite


def test_equals_timm_se_module_in_2d():
    ours = SqueezeExcite(32, rd_channels=8, act_layer=torch.nn.ReLU)
    theirs = SEModule(32, rd_channels=8)
    with torch.no_grad():
        theirs.fc1.weight.copy_(ours.fc1.weight[..., None, None])
        theirs.fc1.bias.copy_(ours.fc1.bias)
        theirs.fc2.weight.copy_(ours.fc2.weight[..., None, None])
        theirs.fc2.bias.copy_(ours.fc2.bias)
    x = torch.randn(2, 32, 5, 6)
    torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
def test_gate_is_per_sample_and_channel(spatial_dims):
    se = SqueezeExcite(16)
    x = torch.rand(3, 16, *([4] * spatial_dims)) + 0.1
    gate = se(x) / x
    flat = gate.flatten(2)
    torch.testing.assert_close(flat, flat[..., :1].expand_as(flat))  # constant over space
    assert ((gate > 0) & (gate < 1)).all()
