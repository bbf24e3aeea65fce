"""Attention pooling with learned or provided queries."""

from __future__ import annotations

import torch

from hybridnets.layers import AttentionPool


def test_learned_query_pools_to_vector_and_is_permutation_invariant():
    pool = AttentionPool(16, num_heads=4)
    x = torch.randn(2, 9, 16)
    y = pool(x)
    assert y.shape == (2, 16)
    torch.testing.assert_close(pool(x[:, torch.randperm(9)]), y, atol=1e-5, rtol=1e-5)


def test_multiple_and_provided_queries():
    pool = AttentionPool(16, num_heads=4, num_queries=3, query_dim=32)
    x = torch.randn(2, 9, 16)
    assert pool(x).shape == (2, 3, 16)
    text = torch.randn(2, 32)
    out = pool(x, query=text)
    assert out.shape == (2, 16)
    out.sum().backward()
    assert pool.query_proj.weight.grad is not None


def test_padding_ignored():
    pool = AttentionPool(8, num_heads=2)
    x = torch.randn(1, 6, 8)
    pad = torch.tensor([[False, False, False, False, True, True]])
    x2 = x.clone()
    x2[0, 4:] = 100.0
    torch.testing.assert_close(pool(x, key_padding_mask=pad), pool(x2, key_padding_mask=pad))
