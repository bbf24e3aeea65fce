"""``window_attention_fwd`` / ``_bwd`` against ``window_attention_reference``: output and grads."""

from __future__ import annotations

import math

import pytest
import torch

from hybridnets.layers.rel_pos import relative_position_index
from hybridnets.layers.windows import shift_region_ids
from hybridnets.ops.reference import window_attention_reference


def _inputs(window, padded, shift, valid, batch, heads, head_dim, dtype, device, seed=0):
    """Random q, k, v, table and the real index / region ids of a (shifted, padded) map."""
    gen = torch.Generator().manual_seed(seed)
    n = math.prod(window)
    n_windows = math.prod(p // w for p, w in zip(padded, window))
    rel_index = relative_position_index(window, window).to(device)
    region_ids = None
    if any(shift) or tuple(padded) != tuple(valid):
        region_ids = shift_region_ids(padded, window, shift, valid).to(device)
    shape = (batch * n_windows, heads, n, head_dim)
    q, k, v = (torch.randn(shape, generator=gen).to(device, dtype) for _ in range(3))
    table = torch.randn(heads, math.prod(2 * w - 1 for w in window), generator=gen).to(device)
    return q, k, v, table, rel_index, region_ids


def _check(q, k, v, table, rel_index, region_ids, assert_matches, table_grad=True):
    """Forward and backward launchers against autograd through the reference."""
    from hybridnets.kernels.window_attention import window_attention_bwd, window_attention_fwd

    scale = q.shape[-1] ** -0.5
    out, lse = window_attention_fwd(q, k, v, table, rel_index, region_ids, scale)
    grad = torch.randn_like(out)
    grads = window_attention_bwd(
        grad, q, k, v, out, lse, table, rel_index, region_ids, scale, table_grad
    )

    def reference(dtype):
        ins = [t.detach().to(dtype).requires_grad_() for t in (q, k, v)]
        ref_tab = table.detach().to(dtype if dtype == torch.float64 else table.dtype)
        ref_tab.requires_grad_(table_grad)
        ref = window_attention_reference(*ins, ref_tab, rel_index, region_ids)
        ref_wrt = [*ins, ref_tab] if table_grad else ins
        return ref, torch.autograd.grad(ref, ref_wrt, grad.to(dtype))

    ref_low, grads_low = reference(q.dtype)
    ref_hi, grads_hi = reference(torch.float64)
    assert out.dtype == q.dtype
    assert_matches("out", out, ref_low, ref_hi, q.dtype)
    assert lse.dtype == torch.float32 and lse.shape == q.shape[:3]
    for name, g, g_low, g_hi in zip(("dq", "dk", "dv", "dtable"), grads, grads_low, grads_hi):
        assert g.dtype == g_low.dtype, name
        assert_matches(name, g, g_low, g_hi, q.dtype)


CASES = {
    # name: (window, padded map, shift, valid map)
    "2d-3x3": ((3, 3), (6, 6), (0, 0), (6, 6)),
    "2d-3x3-shift": ((3, 3), (6, 6), (1, 1), (6, 6)),
    "2d-3x3-pad": ((3, 3), (6, 6), (0, 0), (5, 4)),
    "2d-7x7-shift-pad": ((7, 7), (7, 14), (3, 3), (7, 12)),
    "3d-2x2x2-shift": ((2, 2, 2), (4, 4, 4), (1, 1, 1), (4, 4, 4)),
    "3d-3x3x3-pad": ((3, 3, 3), (3, 6, 3), (0, 0, 0), (3, 5, 3)),
    "3d-4x4x5-shift": ((4, 4, 5), (4, 4, 5), (2, 2, 2), (4, 4, 5)),  # N=80: two key blocks
}


@pytest.mark.parametrize("case", list(CASES))
def test_window_attention_fp32(case, device, assert_matches):
    window, padded, shift, valid = CASES[case]
    head_dim = 32 if case.startswith("2d-7") else 16
    inputs = _inputs(window, padded, shift, valid, 2, 2, head_dim, torch.float32, device)
    _check(*inputs, assert_matches)


@pytest.mark.parametrize("head_dim", [24, 48])
def test_window_attention_head_dim_not_power_of_two(head_dim, device, assert_matches):
    inputs = _inputs((3, 3), (6, 3), (1, 1), (5, 3), 1, 2, head_dim, torch.float32, device)
    _check(*inputs, assert_matches)


def test_window_attention_fp32_large_head_dim(device, assert_matches):
    """fp32 with head_dim > 64: 32-wide default tiles, so a 7×7 window spans two tiles."""
    inputs = _inputs((7, 7), (7, 7), (3, 3), (6, 7), 1, 1, 96, torch.float32, device)
    _check(*inputs, assert_matches)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_window_attention_low_precision(dtype, device, assert_matches):
    if dtype == torch.bfloat16 and device.type == "cpu":
        pytest.skip("Triton's CPU interpreter miscomputes tl.dot on bfloat16")
    inputs = _inputs((3, 3), (6, 6), (1, 1), (5, 6), 1, 2, 16, dtype, device)
    _check(*inputs, assert_matches)


def test_window_attention_strided_inputs_frozen_table(device, assert_matches):
    """q, k, v as views of one qkv projection (Swin layout); the table needs no grad."""
    _, _, _, table, rel_index, region_ids = _inputs(
        (3, 3), (6, 6), (1, 1), (6, 6), 1, 2, 16, torch.float32, device
    )
    qkv = torch.randn(4, 9, 3, 2, 16, device=device)  # (B·nW, N, 3, H, D)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B·nW, H, N, D), not contiguous
    assert not q.is_contiguous()
    _check(q, k, v, table, rel_index, region_ids, assert_matches, table_grad=False)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    ("window", "padded", "shift", "valid"),
    [((7, 7), (56, 56), (3, 3), (56, 56)), ((7, 7, 7), (14, 14, 14), (3, 3, 3), (14, 12, 13))],
    ids=["swin-2d-n49", "swin-3d-n343"],
)
def test_window_attention_gpu(window, padded, shift, valid, dtype, device, assert_matches):
    inputs = _inputs(window, padded, shift, valid, 2, 3, 32, dtype, device)
    _check(*inputs, assert_matches)
