import pytest
import torch

from hybridnets.layers.heads_projection import MultiHeadProjections, merge_heads, split_heads


def test_split_then_merge_is_the_projections():
    torch.manual_seed(0)
    m = MultiHeadProjections(12, 3)
    with torch.no_grad():
        m.proj.weight.copy_(torch.eye(12))
        m.proj.bias.zero_()
    tokens = torch.randn(2, 5, 12)
    q, k, v = m.split_heads(tokens)
    assert q.shape == (2, 3, 5, 4)
    q_ref, k_ref, v_ref = m.qkv(tokens).chunk(3, dim=-1)
    torch.testing.assert_close(m.merge_heads(q), q_ref)
    torch.testing.assert_close(m.merge_heads(v), v_ref)
    torch.testing.assert_close(k.transpose(1, 2).reshape(2, 5, 12), k_ref)


def test_dim_not_divisible_by_heads():
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        MultiHeadProjections(10, 3)


def test_split_heads_stacks_parts_and_merge_inverts_it():
    x = torch.randn(2, 5, 2 * 12)  # two parts (k, v) of 3 heads × 4 channels
    parts = split_heads(x, num_heads=3, parts=2)
    assert parts.shape == (2, 2, 3, 5, 4)
    k, v = parts.unbind(0)
    torch.testing.assert_close(merge_heads(k), x[..., :12])
    torch.testing.assert_close(merge_heads(v), x[..., 12:])
