"""CBAM channel and spatial gates, 2D and 3D: identity at init, CBAM's formula once trained."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hybridnets.layers import CBAM


def _reference(cbam: CBAM, x: torch.Tensor) -> torch.Tensor:
    """Woo et al.'s CBAM with ``2·sigmoid`` gates, written out."""
    dims = tuple(range(2, x.ndim))
    mlp = lambda v: cbam.fc2(F.relu(cbam.fc1(v)))  # noqa: E731
    channel = 2 * torch.sigmoid(mlp(x.mean(dims)) + mlp(x.amax(dims)))  # (B, C)
    x = x * channel.view(*channel.shape, *([1] * len(dims)))
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
    return x * 2 * torch.sigmoid(cbam.spatial(pooled))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_identity_at_init(spatial_dims):
    cbam = CBAM(16, spatial_dims)
    x = torch.randn(2, 16, *([5] * spatial_dims))
    assert torch.equal(cbam.channel_gate(x), torch.ones(2, 16, *([1] * spatial_dims)))
    assert torch.equal(cbam.spatial_gate(x), torch.ones(2, 1, *([5] * spatial_dims)))
    assert torch.equal(cbam(x), x)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_trained_gates_follow_cbam_and_can_amplify(spatial_dims):
    cbam = CBAM(16, spatial_dims)
    x = torch.randn(2, 16, *([5] * spatial_dims), requires_grad=True)
    (cbam(x) * torch.randn_like(x)).sum().backward()
    assert all(p.grad is not None for p in cbam.parameters())
    assert cbam.fc2.weight.grad.abs().sum() > 0 and cbam.spatial.weight.grad.abs().sum() > 0
    torch.optim.SGD(cbam.parameters(), lr=1.0).step()
    with torch.no_grad():
        y = cbam(x)
        assert not torch.allclose(y, x, atol=1e-4)  # after one step the gates act
        torch.testing.assert_close(y, _reference(cbam, x))
        wide = CBAM(16, spatial_dims)  # gates opened wide: 2·sigmoid amplifies, a sigmoid can't
        wide.fc2.bias.fill_(2.0)
        wide.spatial.bias.fill_(4.0)
        assert (wide.channel_gate(x) > 1.9).all() and (wide.spatial_gate(x) > 1.9).all()
        torch.testing.assert_close(wide(x), _reference(wide, x))
