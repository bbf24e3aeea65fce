"""``attention_fwd`` / ``_bwd`` against ``attention_reference``: global and cross, bias, padding."""

from __future__ import annotations

import pytest
import torch

from hybridnets.ops.reference import attention_reference


def _inputs(b, h, lq, lk, d, dtype, device, bias_shape=None, pad=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, lq, d, generator=gen).to(device, dtype)
    k, v = (torch.randn(b, h, lk, d, generator=gen).to(device, dtype) for _ in range(2))
    bias = None if bias_shape is None else torch.randn(bias_shape, generator=gen).to(device)
    key_padding_mask = None
    if pad:  # variable-length context: sample i keeps lk - 2·i keys (at least one)
        lengths = torch.tensor([max(1, lk - 2 * i) for i in range(b)])
        key_padding_mask = (torch.arange(lk)[None, :] >= lengths[:, None]).to(device)
    return q, k, v, bias, key_padding_mask


def _check(q, k, v, bias, key_padding_mask, assert_matches, bias_grad=True):
    """Forward and backward launchers against autograd through the reference."""
    from hybridnets.kernels.attention import attention_bwd, attention_fwd

    scale = q.shape[-1] ** -0.5
    out, lse = attention_fwd(q, k, v, bias, key_padding_mask, scale)
    grad = torch.randn_like(out)
    grads = attention_bwd(grad, q, k, v, out, lse, bias, key_padding_mask, scale, bias_grad)
    if bias is None or not bias_grad:
        assert grads[3].numel() == 0
        grads = grads[:3]

    def reference(dtype):
        ins = [t.detach().to(dtype).requires_grad_() for t in (q, k, v)]
        ref_wrt = list(ins)
        ref_bias = None
        if bias is not None:
            ref_bias = bias.detach().to(dtype if dtype == torch.float64 else bias.dtype)
            ref_bias.requires_grad_(bias_grad)
            if bias_grad:
                ref_wrt.append(ref_bias)
        ref = attention_reference(*ins, ref_bias, key_padding_mask)
        return ref, torch.autograd.grad(ref, ref_wrt, grad.to(dtype))

    ref_low, grads_low = reference(q.dtype)
    ref_hi, grads_hi = reference(torch.float64)
    assert_matches("out", out, ref_low, ref_hi, q.dtype)
    for name, g, g_low, g_hi in zip(("dq", "dk", "dv", "dbias"), grads, grads_low, grads_hi):
        assert g.dtype == g_low.dtype, name
        assert_matches(name, g, g_low, g_hi, q.dtype)


CASES = {
    # name: (B, H, Lq, Lk, D, bias shape, key padding)
    "self-bias-hqk": (2, 2, 20, 20, 16, (2, 20, 20), False),
    "cross-padding": (3, 2, 10, 7, 16, None, True),
    "cross-bias-full-padding": (2, 2, 9, 13, 24, (2, 2, 9, 13), True),
    "cross-bias-broadcast": (2, 2, 6, 11, 32, (2, 1, 6, 11), True),
    "bias-per-key": (2, 1, 5, 12, 16, (12,), False),
    "long-keys": (1, 1, 70, 80, 16, (1, 70, 80), True),  # several query and key blocks
    "many-queries-few-keys": (1, 1, 70, 9, 16, None, True),  # more query than key blocks
}


@pytest.mark.parametrize("case", list(CASES))
def test_attention_fp32(case, device, assert_matches):
    b, h, lq, lk, d, bias_shape, pad = CASES[case]
    _check(*_inputs(b, h, lq, lk, d, torch.float32, device, bias_shape, pad), assert_matches)


def test_attention_fp32_large_head_dim(device, assert_matches):
    """fp32 with head_dim 128: 32-wide default tiles, two query and two key tiles."""
    _check(*_inputs(1, 2, 40, 33, 128, torch.float32, device, (2, 40, 33), True), assert_matches)


def test_attention_every_key_padded(device, assert_matches):
    """A sequence with no valid key over several key tiles: zero output, zero gradients (the
    reference's semantics; the kernel used to return the mean of V)."""
    q, k, v, bias, _ = _inputs(2, 2, 40, 70, 16, torch.float32, device, (2, 40, 70))
    key_padding_mask = torch.zeros(2, 70, dtype=torch.bool, device=device)
    key_padding_mask[1] = True
    _check(q, k, v, bias, key_padding_mask, assert_matches)
    from hybridnets.kernels.attention import attention_fwd

    out, _ = attention_fwd(q, k, v, bias, key_padding_mask, q.shape[-1] ** -0.5)
    assert torch.equal(out[1], torch.zeros_like(out[1]))


def test_attention_fp16(device, assert_matches):
    inputs = _inputs(2, 2, 12, 9, 16, torch.float16, device, (2, 12, 9), pad=True)
    _check(*inputs, assert_matches)


def test_attention_frozen_bias(device, assert_matches):
    inputs = _inputs(1, 2, 8, 8, 16, torch.float32, device, (2, 8, 8))
    _check(*inputs, assert_matches, bias_grad=False)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    ("lq", "lk", "bias_shape", "pad"),
    [(196, 196, (6, 196, 196), False), (343, 77, None, True)],
    ids=["global-rpb", "cross-text"],
)
def test_attention_gpu(lq, lk, bias_shape, pad, dtype, device, assert_matches):
    _check(*_inputs(4, 6, lq, lk, 32, dtype, device, bias_shape, pad), assert_matches)
