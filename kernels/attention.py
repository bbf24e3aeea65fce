"""Fused global and cross attention with additive bias and key padding.

FlashAttention-2 (Dao, 2023) as in Triton's fused-attention tutorial, for queries ``(B, H, Lq, D)``
attending to keys ``(B, H, Lk, D)`` with ``Lq != Lk`` allowed (image tokens attending to text or
clinical-variable tokens). The optional bias is read through broadcast strides (an ``(H, Lq, Lk)``
relative position bias is never expanded over the batch) and the key padding mask is read per key.

    out = attention_triton(q, k, v, bias=rpb, key_padding_mask=pad)

The bias gradient is written directly when the bias has the full ``(B, H, Lq, Lk)`` shape and is
accumulated with fp32 atomics into a buffer of the bias's own shape when it is broadcast. fp32
inputs use IEEE fp32 dot products unless ``torch.backends.cuda.matmul.allow_tf32`` is set, in which
case they use TF32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from hybridnets.kernels._flash import (
    LOG2E,
    _bwd_ds,
    _fwd_step,
    _load_rows,
    _store_rows,
    block_sizes,
    bwd_preprocess,
    dot_precision,
    unit_last_stride,
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


@triton.jit
def _attention_logits(q, k, bias, valid, qk_scale, PRECISION: tl.constexpr):
    """Logits in log2 units, ``-1e30`` where masked."""
    qk = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale + bias * 1.4426950408889634
    return tl.where(valid, qk, -1.0e30)


@triton.jit
def _attention_fwd_kernel(
    Q,
    K,
    V,
    Bias,
    KPM,
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
    stride_bb,
    stride_bh,
    stride_bm,
    stride_bn,
    H,
    LQ,
    LK,
    HEAD_DIM,
    qk_scale,
    HAS_BIAS: tl.constexpr,
    HAS_KPM: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    PRECISION: tl.constexpr,
):
    pid_bh = tl.program_id(0).to(tl.int64)
    pid_m = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    q = _load_rows(Q + b * stride_qb + h * stride_qh, offs_m, offs_d, stride_qm, LQ, HEAD_DIM)
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh
    bias_base = Bias + b * stride_bb + h * stride_bh
    kpm_row = KPM + b * LK

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    for start_n in range(0, LK, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        k = _load_rows(k_base, offs_n, offs_d, stride_kn, LK, HEAD_DIM)
        v = _load_rows(v_base, offs_n, offs_d, stride_vn, LK, HEAD_DIM)
        bias, valid = _attention_bias_mask(
            offs_m, offs_n, bias_base, stride_bm, stride_bn, kpm_row, LQ, LK, HAS_BIAS, HAS_KPM
        )
        qk = _attention_logits(q, k, bias, valid, qk_scale, PRECISION)
        m_i, l_i, acc = _fwd_step(qk, v, m_i, l_i, acc, PRECISION)

    acc = acc / l_i[:, None]
    _store_rows(Out + b * stride_ob + h * stride_oh, acc, offs_m, offs_d, stride_om, LQ, HEAD_DIM)
    tl.store(Lse + pid_bh * LQ + offs_m, m_i + tl.math.log2(l_i), mask=offs_m < LQ)


@triton.jit
def _attention_bwd_kernel(
    Q,
    K,
    V,
    Bias,
    KPM,
    DO,
    Lse,
    Delta,
    DQ,
    DK,
    DV,
    DBias,
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
    stride_bb,
    stride_bh,
    stride_bm,
    stride_bn,
    stride_dbb,
    stride_dbh,
    stride_dbm,
    stride_dbn,
    H,
    LQ,
    LK,
    HEAD_DIM,
    scale,
    qk_scale,
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
    """Program ``(bh, i)`` computes dK, dV (and dBias) of key block ``i`` and dQ of query block
    ``i``; either part is skipped when block ``i`` is past the end of its sequence. With
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
    bias_base = Bias + b * stride_bb + h * stride_bh
    dbias_base = DBias + b * stride_dbb + h * stride_dbh
    kpm_row = KPM + b * LK
    lse_base = Lse + pid_bh * LQ
    delta_base = Delta + pid_bh * LQ

    if pid * BLOCK_N < LK:
        # dK, dV (and dBias) of key block `pid`: loop over every query block.
        offs_n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
        k = _load_rows(k_base, offs_n, offs_d, stride_kn, LK, HEAD_DIM)
        v = _load_rows(v_base, offs_n, offs_d, stride_vn, LK, HEAD_DIM)
        dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        for start_m in range(0, LQ, BLOCK_M):
            offs_m = start_m + tl.arange(0, BLOCK_M)
            q = _load_rows(q_base, offs_m, offs_d, stride_qm, LQ, HEAD_DIM)
            do = _load_rows(do_base, offs_m, offs_d, stride_dom, LQ, HEAD_DIM)
            lse = tl.load(lse_base + offs_m, mask=offs_m < LQ, other=0.0)
            delta = tl.load(delta_base + offs_m, mask=offs_m < LQ, other=0.0)
            bias, valid = _attention_bias_mask(
                offs_m, offs_n, bias_base, stride_bm, stride_bn, kpm_row, LQ, LK, HAS_BIAS, HAS_KPM
            )
            qk = _attention_logits(q, k, bias, valid, qk_scale, PRECISION)
            p, ds = _bwd_ds(qk, lse, delta, do, v, PRECISION)
            dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=PRECISION)
            dk += tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision=PRECISION)
            if BIAS_GRAD:
                ptrs = dbias_base + offs_m[:, None] * stride_dbm + offs_n[None, :] * stride_dbn
                in_range = (offs_m[:, None] < LQ) & (offs_n[None, :] < LK)
                if BIAS_ATOMIC:
                    tl.atomic_add(ptrs, ds, mask=valid, sem="relaxed")
                else:
                    tl.store(ptrs, ds, mask=in_range)
            if ONE_BLOCK:
                dq = tl.dot(ds.to(k.dtype), k, input_precision=PRECISION) * scale
                dq_base = DQ + b * stride_dqb + h * stride_dqh
                _store_rows(dq_base, dq, offs_m, offs_d, stride_dqm, LQ, HEAD_DIM)
        dk_base = DK + b * stride_dkb + h * stride_dkh
        dv_base = DV + b * stride_dkb + h * stride_dkh
        _store_rows(dk_base, dk * scale, offs_n, offs_d, stride_dkn, LK, HEAD_DIM)
        _store_rows(dv_base, dv, offs_n, offs_d, stride_dkn, LK, HEAD_DIM)

    # A constexpr test and a runtime test must not share one condition in Triton.
    if not ONE_BLOCK:  # noqa: SIM102
        if pid * BLOCK_M < LQ:
            # dQ of query block `pid`: loop over every key block.
            offs_m = pid * BLOCK_M + tl.arange(0, BLOCK_M)
            q = _load_rows(q_base, offs_m, offs_d, stride_qm, LQ, HEAD_DIM)
            do = _load_rows(do_base, offs_m, offs_d, stride_dom, LQ, HEAD_DIM)
            lse = tl.load(lse_base + offs_m, mask=offs_m < LQ, other=0.0)
            delta = tl.load(delta_base + offs_m, mask=offs_m < LQ, other=0.0)
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
                qk = _attention_logits(q, k, bias, valid, qk_scale, PRECISION)
                _p, ds = _bwd_ds(qk, lse, delta, do, v, PRECISION)
                dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)
            dq_base = DQ + b * stride_dqb + h * stride_dqh
            _store_rows(dq_base, dq * scale, offs_m, offs_d, stride_dqm, LQ, HEAD_DIM)


def _bias_arg(bias: Tensor | None, q: Tensor, lk: int) -> tuple[Tensor, tuple[int, ...]]:
    """The bias and its ``(B, H, Lq, Lk)`` broadcast strides (zeros where broadcast)."""
    if bias is None:
        return q.new_zeros(1), (0, 0, 0, 0)
    b, h, lq, _ = q.shape
    expanded = bias.expand(b, h, lq, lk)
    return bias, expanded.stride()


def _kpm_arg(key_padding_mask: Tensor | None, q: Tensor) -> Tensor:
    """The key padding mask as contiguous uint8 (a dummy when absent)."""
    if key_padding_mask is None:
        return torch.zeros(1, device=q.device, dtype=torch.uint8)
    return key_padding_mask.to(device=q.device, dtype=torch.uint8).contiguous()


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
    q, k, v = unit_last_stride(q), unit_last_stride(k), unit_last_stride(v)
    b, h, lq, d = q.shape
    lk = k.shape[2]
    bias_t, bias_strides = _bias_arg(bias, q, lk)
    kpm = _kpm_arg(key_padding_mask, q)
    out = torch.empty(q.shape, device=q.device, dtype=q.dtype)
    lse = torch.empty((b, h, lq), device=q.device, dtype=torch.float32)
    block_m, block_n, block_d = block_sizes(lq, lk, d, q.dtype)
    grid = (b * h, triton.cdiv(lq, block_m))
    _attention_fwd_kernel[grid](
        q,
        k,
        v,
        bias_t,
        kpm,
        out,
        lse,
        *q.stride()[:3],
        *k.stride()[:3],
        *v.stride()[:3],
        *out.stride()[:3],
        *bias_strides,
        h,
        lq,
        lk,
        d,
        scale * LOG2E,
        HAS_BIAS=bias is not None,
        HAS_KPM=key_padding_mask is not None,
        BLOCK_M=block_m,
        BLOCK_N=block_n,
        BLOCK_D=block_d,
        PRECISION=dot_precision(q.dtype),
    )
    return out, lse


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

    Returns:
        ``(dq, dk, dv, d_bias)``; ``d_bias`` has the bias's shape and dtype (an empty tensor when
        ``bias_grad`` is False or there is no bias).
    """
    q, k, v = unit_last_stride(q), unit_last_stride(k), unit_last_stride(v)
    grad_out = unit_last_stride(grad_out)
    b, h, lq, d = q.shape
    lk = k.shape[2]
    bias_t, bias_strides = _bias_arg(bias, q, lk)
    kpm = _kpm_arg(key_padding_mask, q)
    delta = bwd_preprocess(out, grad_out)
    dq = torch.empty(q.shape, device=q.device, dtype=q.dtype)
    dk = torch.empty(k.shape, device=q.device, dtype=k.dtype)
    dv = torch.empty(k.shape, device=q.device, dtype=v.dtype)
    bias_grad = bias_grad and bias is not None
    if bias_grad:
        full = (None,) * (4 - bias.dim()) + tuple(bias.shape)
        buf_shape = tuple(1 if s is None else s for s in full)
        dbias = torch.zeros(buf_shape, device=q.device, dtype=torch.float32)
        dbias_strides = dbias.expand(b, h, lq, lk).stride()
        atomic = 0 in dbias_strides
    else:
        dbias = torch.zeros(1, device=q.device, dtype=torch.float32)
        dbias_strides, atomic = (0, 0, 0, 0), False
    block_m, block_n, block_d = block_sizes(lq, lk, d, q.dtype)
    grid = (b * h, max(triton.cdiv(lq, block_m), triton.cdiv(lk, block_n)))
    _attention_bwd_kernel[grid](
        q,
        k,
        v,
        bias_t,
        kpm,
        grad_out,
        lse,
        delta,
        dq,
        dk,
        dv,
        dbias,
        *q.stride()[:3],
        *k.stride()[:3],
        *v.stride()[:3],
        *grad_out.stride()[:3],
        *dq.stride()[:3],
        *dk.stride()[:3],
        *bias_strides,
        *dbias_strides,
        h,
        lq,
        lk,
        d,
        scale,
        scale * LOG2E,
        HAS_BIAS=bias is not None,
        HAS_KPM=key_padding_mask is not None,
        BIAS_GRAD=bias_grad,
        BIAS_ATOMIC=atomic,
        ONE_BLOCK=triton.cdiv(lq, block_m) == 1 and triton.cdiv(lk, block_n) == 1,
        BLOCK_M=block_m,
        BLOCK_N=block_n,
        BLOCK_D=block_d,
        PRECISION=dot_precision(q.dtype),
    )
    if not bias_grad:
        return dq, dk, dv, q.new_empty(0)
    return dq, dk, dv, dbias.view(bias.shape).to(bias.dtype)


def attention_triton(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    bias: Tensor | None = None,
    key_padding_mask: Tensor | None = None,
    scale: float | None = None,
) -> Tensor:
    """Differentiable fused global / cross attention (the ``hybridnets::attention`` op).

    Same contract as :func:`hybridnets.ops.reference.attention_reference`; gradients flow to
    ``q``, ``k``, ``v`` and ``bias``.

        out = attention_triton(q, k, v, bias=rpb, key_padding_mask=pad)
    """
    from hybridnets.ops import custom_ops  # registers the op; ops -> kernels otherwise

    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    return custom_ops.attention_op(q, k, v, bias, key_padding_mask, scale)
