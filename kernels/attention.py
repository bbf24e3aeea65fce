"""Fused global and cross attention with additive bias and key padding.

FlashAttention-2 (Dao, 2023) as in Triton's fused-attention tutorial, for queries ``(B, H, Lq, D)``
attending to keys ``(B, H, Lk, D)`` with ``Lq != Lk`` allowed (image tokens attending to text or
clinical-variable tokens). The optional bias is read through broadcast strides (an ``(H, Lq, Lk)``
relative position bias is never expanded over the batch) and the key padding mask is read per key.

    out, lse = attention_fwd(q, k, v, bias, key_padding_mask, scale)
    dq, dk, dv, d_bias = attention_bwd(grad_out, q, k, v, out, lse, bias, ..., bias_grad=True)

Plain tensors in and out; autograd and the ``hybridnets::attention`` custom op live in
:mod:`hybridnets.ops.custom_ops`. The bias gradient is written directly when the bias has the
full ``(B, H, Lq, Lk)`` shape and is accumulated with fp32 atomics into a buffer of the bias's
own shape when it is broadcast.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from hybridnets.kernels._flash import (
    _bwd_ds,
    _bwd_kv_step,
    _fwd_finish,
    _fwd_init,
    _fwd_step,
    _load_rows,
    _logits,
    _row_stats,
    _store_rows,
)
from hybridnets.kernels._launch import (
    autotuned_backward,
    autotuned_forward,
    launch_backward,
    launch_forward,
)


@triton.jit
def _attention_bias_mask(
    offs_m,
    offs_n,
    bias_base,
    stride_bm,
    stride_bn,
    kpm_row,
    LQ,
    LK,
    HAS_BIAS: tl.constexpr,
    HAS_KPM: tl.constexpr,
):
    """The fp32 ``(BLOCK_M, BLOCK_N)`` bias tile and validity mask (in range, key not padding)."""
    valid = (offs_m[:, None] < LQ) & (offs_n[None, :] < LK)
    if HAS_KPM:
        pad = tl.load(kpm_row + offs_n, mask=offs_n < LK, other=1)
        valid = valid & (pad == 0)[None, :]
    if HAS_BIAS:
        ptrs = bias_base + offs_m[:, None] * stride_bm + offs_n[None, :] * stride_bn
        bias = tl.load(ptrs, mask=valid, other=0.0).to(tl.float32)
    else:
        bias = tl.zeros(valid.shape, tl.float32)
    return bias, valid


@autotuned_forward
@triton.jit
def _attention_fwd_kernel(
    Q,
    K,
    V,
    Out,
    Lse,
    stride_qb,
    stride_qh,
    stride_qm,
    stride_kb,
    stride_kh,
    stride_kn,
    stride_vb,
    stride_vh,
    stride_vn,
    stride_ob,
    stride_oh,
    stride_om,
    H,
    LQ,
    LK,
    HEAD_DIM,
    qk_scale,
    Bias,
    KPM,
    stride_bb,
    stride_bh,
    stride_bm,
    stride_bn,
    HAS_BIAS: tl.constexpr,
    HAS_KPM: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Program ``(b·H + h, i)``: query tile ``i`` of head ``h`` in sequence ``b``."""
    pid_bh = tl.program_id(0).to(tl.int64)
    b = pid_bh // H
    h = pid_bh % H
    offs_m = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    bias_base = Bias + b * stride_bb + h * stride_bh
    kpm_row = KPM + b * LK
    q = _load_rows(Q + b * stride_qb + h * stride_qh, offs_m, offs_d, stride_qm, LQ, HEAD_DIM)
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh

    m_i, l_i, acc = _fwd_init(BLOCK_M, BLOCK_D)
    for start_n in range(0, LK, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        k = _load_rows(k_base, offs_n, offs_d, stride_kn, LK, HEAD_DIM)
        v = _load_rows(v_base, offs_n, offs_d, stride_vn, LK, HEAD_DIM)
        bias, valid = _attention_bias_mask(
            offs_m, offs_n, bias_base, stride_bm, stride_bn, kpm_row, LQ, LK, HAS_BIAS, HAS_KPM
        )
        qk = _logits(q, k, bias, valid, qk_scale, PRECISION)
        m_i, l_i, acc = _fwd_step(qk, v, m_i, l_i, acc, PRECISION)

    out_base = Out + b * stride_ob + h * stride_oh
    _fwd_finish(out_base, Lse + pid_bh * LQ, acc, m_i, l_i, offs_m, offs_d, stride_om, LQ, HEAD_DIM)


@autotuned_backward(reset_to_zero="DBias")
@triton.jit
def _attention_bwd_kernel(
    Q,
    K,
    V,
    DO,
    Lse,
    Delta,
    DQ,
    DK,
    DV,
    stride_qb,
    stride_qh,
    stride_qm,
    stride_kb,
    stride_kh,
    stride_kn,
    stride_vb,
    stride_vh,
    stride_vn,
    stride_dob,
    stride_doh,
    stride_dom,
    stride_dqb,
    stride_dqh,
    stride_dqm,
    stride_dkb,
    stride_dkh,
    stride_dkn,
    H,
    LQ,
    LK,
    HEAD_DIM,
    scale,
    qk_scale,
    Bias,
    KPM,
    DBias,
    stride_bb,
    stride_bh,
    stride_bm,
    stride_bn,
    stride_dbb,
    stride_dbh,
    stride_dbm,
    stride_dbn,
    HAS_BIAS: tl.constexpr,
    HAS_KPM: tl.constexpr,
    BIAS_GRAD: tl.constexpr,
    BIAS_ATOMIC: tl.constexpr,
    ONE_BLOCK: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Program ``(b·H + h, i)`` computes dK, dV (and dBias) of key tile ``i`` and dQ of query
    tile ``i``; either part is skipped when tile ``i`` is past the end of its sequence. With
    ``ONE_BLOCK`` (queries and keys each fit one tile) one pass gives all of them."""
    pid_bh = tl.program_id(0).to(tl.int64)
    pid = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    offs_d = tl.arange(0, BLOCK_D)
    q_base = Q + b * stride_qb + h * stride_qh
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh
    do_base = DO + b * stride_dob + h * stride_doh
    dq_base = DQ + b * stride_dqb + h * stride_dqh
    bias_base = Bias + b * stride_bb + h * stride_bh
    dbias_base = DBias + b * stride_dbb + h * stride_dbh
    kpm_row = KPM + b * LK
    lse_row = Lse + pid_bh * LQ
    delta_row = Delta + pid_bh * LQ

    if pid * BLOCK_N < LK:
        # dK, dV (and dBias) of key tile `pid`: loop over every query tile.
        offs_n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
        k = _load_rows(k_base, offs_n, offs_d, stride_kn, LK, HEAD_DIM)
        v = _load_rows(v_base, offs_n, offs_d, stride_vn, LK, HEAD_DIM)
        dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        for start_m in range(0, LQ, BLOCK_M):
            offs_m = start_m + tl.arange(0, BLOCK_M)
            q = _load_rows(q_base, offs_m, offs_d, stride_qm, LQ, HEAD_DIM)
            do = _load_rows(do_base, offs_m, offs_d, stride_dom, LQ, HEAD_DIM)
            lse, delta = _row_stats(lse_row, delta_row, offs_m, LQ)
            bias, valid = _attention_bias_mask(
                offs_m, offs_n, bias_base, stride_bm, stride_bn, kpm_row, LQ, LK, HAS_BIAS, HAS_KPM
            )
            qk = _logits(q, k, bias, valid, qk_scale, PRECISION)
            p, ds = _bwd_ds(qk, lse, delta, do, v, PRECISION)
            dk, dv = _bwd_kv_step(p, ds, q, do, dk, dv, PRECISION)
            if BIAS_GRAD:
                ptrs = dbias_base + offs_m[:, None] * stride_dbm + offs_n[None, :] * stride_dbn
                if BIAS_ATOMIC:
                    tl.atomic_add(ptrs, ds, mask=valid, sem="relaxed")
                else:
                    in_range = (offs_m[:, None] < LQ) & (offs_n[None, :] < LK)
                    tl.store(ptrs, ds, mask=in_range)
            if ONE_BLOCK:
                dq = tl.dot(ds.to(k.dtype), k, input_precision=PRECISION) * scale
                _store_rows(dq_base, dq, offs_m, offs_d, stride_dqm, LQ, HEAD_DIM)
        dk_base = DK + b * stride_dkb + h * stride_dkh
        dv_base = DV + b * stride_dkb + h * stride_dkh
        _store_rows(dk_base, dk * scale, offs_n, offs_d, stride_dkn, LK, HEAD_DIM)
        _store_rows(dv_base, dv, offs_n, offs_d, stride_dkn, LK, HEAD_DIM)

    # A constexpr test and a runtime test must not share one condition in Triton.
    if not ONE_BLOCK:  # noqa: SIM102
        if pid * BLOCK_M < LQ:
            # dQ of query tile `pid`: loop over every key tile.
            offs_m = pid * BLOCK_M + tl.arange(0, BLOCK_M)
            q = _load_rows(q_base, offs_m, offs_d, stride_qm, LQ, HEAD_DIM)
            do = _load_rows(do_base, offs_m, offs_d, stride_dom, LQ, HEAD_DIM)
            lse, delta = _row_stats(lse_row, delta_row, offs_m, LQ)
            dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
            for start_n in range(0, LK, BLOCK_N):
                offs_n = start_n + tl.arange(0, BLOCK_N)
                k = _load_rows(k_base, offs_n, offs_d, stride_kn, LK, HEAD_DIM)
                v = _load_rows(v_base, offs_n, offs_d, stride_vn, LK, HEAD_DIM)
                bias, valid = _attention_bias_mask(
                    offs_m,
                    offs_n,
                    bias_base,
                    stride_bm,
                    stride_bn,
                    kpm_row,
                    LQ,
                    LK,
                    HAS_BIAS,
                    HAS_KPM,
                )
                qk = _logits(q, k, bias, valid, qk_scale, PRECISION)
                _p, ds = _bwd_ds(qk, lse, delta, do, v, PRECISION)
                dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)
            _store_rows(dq_base, dq * scale, offs_m, offs_d, stride_dqm, LQ, HEAD_DIM)


def _bias_args(
    bias: Tensor | None, key_padding_mask: Tensor | None, q: Tensor, lk: int
) -> tuple[Any, ...]:
    """The bias (a dummy when absent), the key padding mask as contiguous uint8 (a dummy when
    absent) and the bias's ``(B, H, Lq, Lk)`` broadcast strides (zeros where broadcast)."""
    b, h, lq, _ = q.shape
    if bias is None:
        bias, strides = q.new_zeros(1), (0, 0, 0, 0)
    else:
        strides = bias.expand(b, h, lq, lk).stride()
    if key_padding_mask is None:
        kpm = torch.zeros(1, device=q.device, dtype=torch.uint8)
    else:
        kpm = key_padding_mask.to(device=q.device, dtype=torch.uint8).contiguous()
    return (bias, kpm, *strides)


def attention_fwd(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    bias: Tensor | None,
    key_padding_mask: Tensor | None,
    scale: float,
) -> tuple[Tensor, Tensor]:
    """Launch the forward kernel.

    Args:
        q: Queries ``(B, H, Lq, D)``.
        k: Keys ``(B, H, Lk, D)``; v: values of the same shape.
        bias: Optional additive bias broadcastable to ``(B, H, Lq, Lk)``.
        key_padding_mask: Optional bool ``(B, Lk)``, True where the key is padding.
        scale: Logit scale.

    Returns:
        ``(out, lse)``: output ``(B, H, Lq, D)`` in ``q``'s dtype and the per-row log-sum-exp
        ``(B, H, Lq)`` in fp32, log2 units.
    """
    return launch_forward(
        _attention_fwd_kernel,
        q,
        k,
        v,
        scale,
        _bias_args(bias, key_padding_mask, q, k.shape[2]),
        HAS_BIAS=bias is not None,
        HAS_KPM=key_padding_mask is not None,
    )


def attention_bwd(
    grad_out: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    bias: Tensor | None,
    key_padding_mask: Tensor | None,
    scale: float,
    bias_grad: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Launch the preprocess and backward kernels.

    Args:
        grad_out: Gradient of the output; out, lse: what :func:`attention_fwd` returned.
        q, k, v, bias, key_padding_mask, scale: The forward's inputs.
        bias_grad: Compute the bias gradient (ignored without a bias).

    Returns:
        ``(dq, dk, dv, d_bias)``; ``d_bias`` has the bias's shape and dtype (an empty tensor when
        ``bias_grad`` is False or there is no bias).
    """
    b, h, lq, _ = q.shape
    lk = k.shape[2]
    bias_grad = bias_grad and bias is not None
    if bias_grad:
        shape = (1,) * (4 - bias.dim()) + tuple(bias.shape)
        dbias = torch.zeros(shape, device=q.device, dtype=torch.float32)
        dbias_strides = dbias.expand(b, h, lq, lk).stride()
    else:
        dbias = torch.zeros(1, device=q.device, dtype=torch.float32)
        dbias_strides = (0, 0, 0, 0)
    bias_t, kpm, *bias_strides = _bias_args(bias, key_padding_mask, q, lk)
    dq, dk, dv = launch_backward(
        _attention_bwd_kernel,
        grad_out,
        q,
        k,
        v,
        out,
        lse,
        scale,
        (bias_t, kpm, dbias, *bias_strides, *dbias_strides),
        HAS_BIAS=bias is not None,
        HAS_KPM=key_padding_mask is not None,
        BIAS_GRAD=bias_grad,
        BIAS_ATOMIC=0 in dbias_strides,
    )
    if not bias_grad:
        return dq, dk, dv, q.new_empty(0)
    return dq, dk, dv, dbias.view(bias.shape).to(bias.dtype)
