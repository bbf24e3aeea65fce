"""Tests for hybridnets.flops: exact counts on a hand-computed module, published peers, and
agreement between fvcore and torch.utils.flop_counter."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hybridnets import ops
from hybridnets.flops import (
    _torch_attention_formulas,
    attention_macs,
    count_flops,
    count_macs,
    count_params,
    cross_check,
    macs_by_operator,
)
from hybridnets.ops.attention_flops import attention_flops


class LinearSDPA(nn.Module):
    """qkv projection then SDPA: MACs are easy to write down by hand."""

    def __init__(self, dim: int = 16, num_heads: int = 2) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, N, D)
        return F.scaled_dot_product_attention(q, k, v)


class WindowAttn(nn.Module):
    """Windowed attention through hybridnets.ops (SDPA or reference backend on CPU)."""

    def __init__(self, dim: int = 8, num_heads: int = 2, n: int = 4) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.rpb_table = nn.Parameter(torch.zeros(num_heads, 2 * n - 1))
        idx = torch.arange(n)
        self.register_buffer("rel_index", idx[:, None] - idx[None, :] + n - 1)

    def forward(self, x: Tensor) -> Tensor:
        bw, n, c = x.shape
        qkv = self.qkv(x).view(bw, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B·nW, H, N, D)
        return ops.window_attention(q, k, v, self.rpb_table, self.rel_index)


def test_attention_macs_formula() -> None:
    # B·H·Lq·Lk·D for q·kᵀ plus the same for attn·v
    assert attention_macs((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8)) == 2 * 3 * 5 * 7 * 8 * 2
    assert (
        attention_macs((2, 4, 3, 5, 8), (2, 4, 3, 5, 8), (2, 4, 3, 5, 4)) == 2 * 4 * 3 * 5 * 5 * 12
    )


def test_one_attention_flop_convention() -> None:
    """hybridnets.flops, the custom ops' formulas and PyTorch's SDPA formulas agree: forward
    two matmuls, backward five (q·kᵀ recomputed, dP, dV, dQ, dK)."""
    from torch.utils.flop_counter import flop_registry, sdpa_backward_flop_count, sdpa_flop_count

    q, k, v = (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)
    grad = (2, 3, 5, 4)
    forward = attention_flops(q, k, v)
    backward = attention_flops(q, k, v, backward=True)
    assert forward == 2 * attention_macs(q, k, v) == sdpa_flop_count(q, k, v)
    assert (
        backward == 2 * 2 * 3 * 5 * 7 * (3 * 8 + 2 * 4) == sdpa_backward_flop_count(grad, q, k, v)
    )
    hybrid_ops = [torch.ops.hybridnets.window_attention, torch.ops.hybridnets.attention]
    for op in hybrid_ops:
        assert flop_registry[op](q, k, v) == forward
    for op in [
        torch.ops.hybridnets.window_attention_backward,
        torch.ops.hybridnets.attention_backward,
    ]:
        assert flop_registry[op](grad, q, k, v) == backward
    for op, formula in _torch_attention_formulas().items():  # CPU flash SDPA, where torch has none
        args = (grad, q, k, v) if "backward" in str(op) else (q, k, v)
        assert formula(*args) == (backward if "backward" in str(op) else forward)


def test_count_params() -> None:
    model = LinearSDPA(16)
    assert count_params(model) == 16 * 48 + 48
    model.qkv.bias.requires_grad_(False)
    assert count_params(model, trainable_only=True) == 16 * 48


def test_linear_sdpa_exact() -> None:
    b, n, c, h = 2, 10, 16, 2
    expected = b * n * c * 3 * c + b * h * n * n * (c // h) * 2  # qkv linear + QKᵀ + AV
    model = LinearSDPA(c, h)
    assert count_macs(model, (b, n, c)) == expected
    assert count_macs(model, torch.randn(b, n, c)) == expected
    by_op = macs_by_operator(model, (b, n, c))
    assert by_op == {
        "linear": b * n * c * 3 * c,
        "scaled_dot_product_attention": b * h * n * n * (c // h) * 2,
    }
    assert count_flops(model, (b, n, c)) == 2 * expected


@pytest.mark.parametrize("backend", ["sdpa", "reference"])
def test_window_attention_counted(backend: str) -> None:
    bw, n, c, h = 6, 4, 8, 2
    expected = bw * n * c * 3 * c + bw * h * n * n * (c // h) * 2
    model = WindowAttn(c, h, n)
    with ops.use_backend(backend):
        assert count_macs(model, (bw, n, c)) == expected
        assert count_flops(model, (bw, n, c)) == 2 * expected


class GlobalAttn(nn.Module):
    """Global attention with a key padding mask through hybridnets.ops."""

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q = k = v = x.view(b, n, 2, c // 2).transpose(1, 2)  # (B, H, N, D)
        pad = torch.zeros(b, n, dtype=torch.bool)
        pad[:, -1] = True
        return ops.attention(q, k, v, key_padding_mask=pad)


def test_hybridnets_custom_ops_counted() -> None:
    """The Triton custom ops (run by Triton's CPU interpreter) are counted like SDPA."""
    pytest.importorskip("triton")
    from hybridnets.kernels.interpret import cpu_interpreter

    bw, n, c, h = 2, 16, 32, 2
    attn_macs = bw * h * n * n * (c // h) * 2
    with cpu_interpreter(), ops.use_backend("triton"):
        by_op = macs_by_operator(WindowAttn(c, h, n), (bw, n, c))
        assert by_op == {"linear": bw * n * c * 3 * c, "window_attention": attn_macs}
        assert count_flops(WindowAttn(c, h, n), (bw, n, c)) == 2 * (bw * n * c * 3 * c + attn_macs)
        assert macs_by_operator(GlobalAttn(), (bw, n, c)) == {"attention": attn_macs}
        assert count_flops(GlobalAttn(), (bw, n, c)) == 2 * attn_macs


def test_mode_restored_and_backward_counted() -> None:
    model = LinearSDPA().train()
    count_macs(model, (1, 4, 16))
    assert model.training
    fwd = count_flops(model, (1, 4, 16))
    assert count_flops(model, (1, 4, 16), backward=True) > 2 * fwd


def test_fvcore_and_flop_counter_agree() -> None:
    model = timm.create_model(
        "swin_tiny_patch4_window7_224",
        img_size=56,
        embed_dim=24,
        depths=(1, 1, 2, 1),
        num_heads=(1, 2, 2, 4),
    )
    result = cross_check(model, (1, 3, 56, 56), rtol=0.005)
    assert result.ok, result
    vit = timm.create_model("vit_tiny_patch16_224", img_size=64, depth=2)
    assert cross_check(vit, (1, 3, 64, 64), rtol=0.005).ok


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "gmacs", "params_m"),
    [("swin_tiny_patch4_window7_224", 4.5, 28.3), ("convnext_tiny", 4.47, 28.6)],
)
def test_published_peers(name: str, gmacs: float, params_m: float) -> None:
    model = timm.create_model(name)
    assert count_macs(model, (1, 3, 224, 224)) / 1e9 == pytest.approx(gmacs, rel=0.03)
    assert count_params(model) / 1e6 == pytest.approx(params_m, rel=0.01)
