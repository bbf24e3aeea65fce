"""CBAM channel and spatial gates, 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from hybridnets.layers import CBAM


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_gates_are_in_unit_interval_and_shaped(spatial_dims):
    cbam = CBAM(32, spatial_dims)
    x = torch.randn(2, 32, *([6] * spatial_dims))
    channel = cbam.channel_gate(x)
    assert channel.shape == (2, 32, *([1] * spatial_dims))
    spatial = cbam.spatial_gate(x)
    assert spatial.shape == (2, 1, *([6] * spatial_dims))
    assert ((channel > 0) & (channel < 1)).all() and ((spatial > 0) & (spatial < 1)).all()


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_output_is_gated_input_and_backward(spatial_dims):
    cbam = CBAM(16, spatial_dims)
    x = torch.randn(2, 16, *([5] * spatial_dims), requires_grad=True)
    y = cbam(x)
    assert y.shape == x.shape
    assert (y.abs() <= x.abs() + 1e-6).all()  # gates only shrink
    y.sum().backward()
    assert all(p.grad is not None for p in cbam.parameters())
