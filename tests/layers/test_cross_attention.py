"""Cross-attention fusion and co-attention: identity at init, padding ignored, 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from hybridnets.layers import CoAttention, CrossAttentionFusion


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_fusion_is_identity_at_init(spatial_dims):
    fusion = CrossAttentionFusion(16, context_dim=24, num_heads=4)
    x = torch.randn(2, 16, *([3] * spatial_dims))
    ctx = torch.randn(2, 5, 24)
    assert torch.equal(fusion(x, ctx), x)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_fusion_uses_context_and_ignores_padding(spatial_dims):
    fusion = CrossAttentionFusion(16, context_dim=24, num_heads=4)
    with torch.no_grad():
        fusion.gate.fill_(1.0)
    x = torch.randn(2, 16, *([3] * spatial_dims), requires_grad=True)
    ctx = torch.randn(2, 5, 24)
    pad = torch.tensor([[False] * 5, [False, False, True, True, True]])
    y = fusion(x, ctx, pad)
    assert y.shape == x.shape and not torch.allclose(y, x)
    ctx2 = ctx.clone()
    ctx2[1, 2:] = torch.randn(3, 24) * 10  # only padded tokens change
    torch.testing.assert_close(fusion(x, ctx2, pad), y)
    y.sum().backward()
    assert fusion.gate.grad is not None and x.grad is not None


def test_co_attention_identity_at_init_and_shapes():
    co = CoAttention(16, 24, num_heads=4)
    a, b = torch.randn(2, 7, 16), torch.randn(2, 5, 24)
    a2, b2 = co(a, b)
    assert torch.equal(a2, a) and torch.equal(b2, b)
    with torch.no_grad():
        co.gate_a.fill_(1.0)
        co.gate_b.fill_(1.0)
    a_pad = torch.zeros(2, 7, dtype=torch.bool)
    a_pad[0, 5:] = True
    a3, b3 = co(a, b, a_padding_mask=a_pad)
    assert a3.shape == a.shape and b3.shape == b.shape
    a_changed = a.clone()
    a_changed[0, 5:] += 5.0
    torch.testing.assert_close(co(a_changed, b, a_padding_mask=a_pad)[1], b3)
