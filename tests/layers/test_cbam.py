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
    assert ((channel > 0) & (channel < 2)).all() and ((spatial > 0) & (spatial < 2)).all()


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_identity_at_init_then_gates_after_a_step(spatial_dims):
    cbam = CBAM(16, spatial_dims)
    x = torch.randn(2, 16, *([5] * spatial_dims), requires_grad=True)
    y = cbam(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x, rtol=0, atol=1e-6)  # both gates are exactly 1 at init
    (y * torch.randn_like(y)).sum().backward()
    assert all(p.grad is not None for p in cbam.parameters())
    torch.optim.SGD(cbam.parameters(), lr=1.0).step()
    y = cbam(x)
    assert not torch.allclose(y, x, atol=1e-4)  # after one step the gates act
    assert (y.abs() <= 4 * x.abs() + 1e-6).all()  # each gate is below 2
