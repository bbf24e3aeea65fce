"""Fused windowed attention with relative position bias and region (shift / padding) mask.

Swin Transformer (Liu et al., ICCV 2021) attention inside windows, computed with the
FlashAttention-2 algorithm (Dao, 2023) as in Triton's fused-attention tutorial. The relative
position bias is gathered inside the kernel from the ``(H, T)`` table through the ``(N, N)``
index, and the mask is computed inside the kernel from the ``(nW, N)`` region ids, so no
``(H, N, N)`` bias nor ``(nW, N, N)`` mask is ever written to memory.

    out = window_attention_triton(q, k, v, rpb_table, rel_index, region_ids)

The backward accumulates the table gradient with fp32 atomics into a small
``(P, H, T)`` buffer of per-group partials (window ``w`` adds into partial ``w % P``, which
spreads the contention of many windows over ``P`` copies) that is summed afterwards. fp32 inputs
use IEEE fp32 dot products unless ``torch.backends.cuda.matmul.allow_tf32`` is set, in which
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

MAX_TABLE_PARTIALS = 32


@triton.jit
def _region_ids_of(region_row, offs, N, HAS_REGION: tl.constexpr):
    """Region ids of the tokens ``offs`` (the offsets themselves, unused, without regions)."""
    if HAS_REGION:
        return tl.load(region_row + offs, mask=offs < N, other=-1)
    else:
        return offs


@triton.jit
def _window_bias_mask(
    offs_m, offs_n, rid_m, h, Table, stride_th, Rel, RegionRow, N, HAS_REGION: tl.constexpr
):
    """Gather the ``(BLOCK_M, BLOCK_N)`` bias tile and its validity mask.

    Returns ``(bias, valid, rel)``: the fp32 bias ``table[h, rel_index[m, n]]``, True where query
    ``m`` may attend to key ``n`` (both in range and, with regions, in the same region), and the
    gathered table indices (for the table gradient).
    """
    valid = (offs_m[:, None] < N) & (offs_n[None, :] < N)
    rel = tl.load(Rel + offs_m[:, None] * N + offs_n[None, :], mask=valid, other=0)
    bias = tl.load(Table + h * stride_th + rel, mask=valid, other=0.0).to(tl.float32)
    if HAS_REGION:
        rid_n = tl.load(RegionRow + offs_n, mask=offs_n < N, other=-1)
        valid = valid & (rid_m[:, None] == rid_n[None, :])
    return bias, valid, rel


@triton.jit
def _window_logits(q, k, bias, valid, qk_scale, PRECISION: tl.constexpr):
    """Logits in log2 units, ``-1e30`` where masked."""
    qk = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale + bias * 1.4426950408889634
    return tl.where(valid, qk, -1.0e30)


@triton.jit
def _window_attention_fwd_kernel(
    Q,
    K,
    V,
    Table,
    Rel,
    Region,
    Out,
    Lse,
    stride_qb,
    stride_qh,
    stride_qn,
    stride_kb,
    stride_kh,
    stride_kn,
    stride_vb,
    stride_vh,
    stride_vn,
    stride_ob,
    stride_oh,
    stride_on,
    stride_th,
    H,
    N,
    NW,
    HEAD_DIM,
    qk_scale,
    HAS_REGION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    PRECISION: tl.constexpr,
):
    pid_bh = tl.program_id(0).to(tl.int64)
    pid_m = tl.program_id(1)
    w = pid_bh // H
    h = pid_bh % H
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    region_row = Region + (w % NW) * N
    rid_m = _region_ids_of(region_row, offs_m, N, HAS_REGION)
    q = _load_rows(Q + w * stride_qb + h * stride_qh, offs_m, offs_d, stride_qn, N, HEAD_DIM)
    k_base = K + w * stride_kb + h * stride_kh
    v_base = V + w * stride_vb + h * stride_vh

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    for start_n in range(0, N, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        k = _load_rows(k_base, offs_n, offs_d, stride_kn, N, HEAD_DIM)
        v = _load_rows(v_base, offs_n, offs_d, stride_vn, N, HEAD_DIM)
        bias, valid, _rel = _window_bias_mask(
            offs_m, offs_n, rid_m, h, Table, stride_th, Rel, region_row, N, HAS_REGION
        )
        qk = _window_logits(q, k, bias, valid, qk_scale, PRECISION)
        m_i, l_i, acc = _fwd_step(qk, v, m_i, l_i, acc, PRECISION)

    acc = acc / l_i[:, None]
    _store_rows(Out + w * stride_ob + h * stride_oh, acc, offs_m, offs_d, stride_on, N, HEAD_DIM)
    tl.store(Lse + pid_bh * N + offs_m, m_i + tl.math.log2(l_i), mask=offs_m < N)


@triton.jit
def _window_attention_bwd_kernel(
    Q,
    K,
    V,
    Table,
    Rel,
    Region,
    DO,
    Lse,
    Delta,
    DQ,
    DK,
    DV,
    DTable,
    stride_qb,
    stride_qh,
    stride_qn,
    stride_kb,
    stride_kh,
    stride_kn,
    stride_vb,
    stride_vh,
    stride_vn,
    stride_dob,
    stride_doh,
    stride_don,
    stride_gb,
    stride_gh,
    stride_gn,
    stride_th,
    H,
    N,
    NW,
    T,
    N_PARTIALS,
    HEAD_DIM,
    scale,
    qk_scale,
    HAS_REGION: tl.constexpr,
    TABLE_GRAD: tl.constexpr,
    ONE_BLOCK: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Program ``(bh, i)`` computes dK, dV of key block ``i`` and dQ of query block ``i``.

    With ``ONE_BLOCK`` (the window fits one tile, e.g. N = 49) one pass gives all three.
    """
    pid_bh = tl.program_id(0).to(tl.int64)
    pid = tl.program_id(1)
    w = pid_bh // H
    h = pid_bh % H
    offs_d = tl.arange(0, BLOCK_D)
    region_row = Region + (w % NW) * N
    q_base = Q + w * stride_qb + h * stride_qh
    k_base = K + w * stride_kb + h * stride_kh
    v_base = V + w * stride_vb + h * stride_vh
    do_base = DO + w * stride_dob + h * stride_doh
    lse_base = Lse + pid_bh * N
    delta_base = Delta + pid_bh * N
    dtable_base = DTable + (w % N_PARTIALS) * H * T

    # dK, dV of key block `pid`: loop over every query block.
    offs_n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    k = _load_rows(k_base, offs_n, offs_d, stride_kn, N, HEAD_DIM)
    v = _load_rows(v_base, offs_n, offs_d, stride_vn, N, HEAD_DIM)
    dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    for start_m in range(0, N, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        q = _load_rows(q_base, offs_m, offs_d, stride_qn, N, HEAD_DIM)
        do = _load_rows(do_base, offs_m, offs_d, stride_don, N, HEAD_DIM)
        lse = tl.load(lse_base + offs_m, mask=offs_m < N, other=0.0)
        delta = tl.load(delta_base + offs_m, mask=offs_m < N, other=0.0)
        rid_m = _region_ids_of(region_row, offs_m, N, HAS_REGION)
        bias, valid, rel = _window_bias_mask(
            offs_m, offs_n, rid_m, h, Table, stride_th, Rel, region_row, N, HAS_REGION
        )
        qk = _window_logits(q, k, bias, valid, qk_scale, PRECISION)
        p, ds = _bwd_ds(qk, lse, delta, do, v, PRECISION)
        dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=PRECISION)
        dk += tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision=PRECISION)
        if TABLE_GRAD:
            tl.atomic_add(dtable_base + h * T + rel, ds, mask=valid, sem="relaxed")
        if ONE_BLOCK:
            dq = tl.dot(ds.to(k.dtype), k, input_precision=PRECISION) * scale
            _store_rows(
                DQ + w * stride_gb + h * stride_gh, dq, offs_m, offs_d, stride_gn, N, HEAD_DIM
            )
    _store_rows(
        DK + w * stride_gb + h * stride_gh, dk * scale, offs_n, offs_d, stride_gn, N, HEAD_DIM
    )
    _store_rows(DV + w * stride_gb + h * stride_gh, dv, offs_n, offs_d, stride_gn, N, HEAD_DIM)
    if not ONE_BLOCK:
        # dQ of query block `pid`: loop over every key block.
        offs_m = pid * BLOCK_M + tl.arange(0, BLOCK_M)
        q = _load_rows(q_base, offs_m, offs_d, stride_qn, N, HEAD_DIM)
        do = _load_rows(do_base, offs_m, offs_d, stride_don, N, HEAD_DIM)
        lse = tl.load(lse_base + offs_m, mask=offs_m < N, other=0.0)
        delta = tl.load(delta_base + offs_m, mask=offs_m < N, other=0.0)
        rid_m = _region_ids_of(region_row, offs_m, N, HAS_REGION)
        dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
        for start_n in range(0, N, BLOCK_N):
            offs_kn = start_n + tl.arange(0, BLOCK_N)
            k_tile = _load_rows(k_base, offs_kn, offs_d, stride_kn, N, HEAD_DIM)
            v_tile = _load_rows(v_base, offs_kn, offs_d, stride_vn, N, HEAD_DIM)
            bias, valid, _rel = _window_bias_mask(
                offs_m, offs_kn, rid_m, h, Table, stride_th, Rel, region_row, N, HAS_REGION
            )
            qk = _window_logits(q, k_tile, bias, valid, qk_scale, PRECISION)
            _p, ds = _bwd_ds(qk, lse, delta, do, v_tile, PRECISION)
            dq += tl.dot(ds.to(k_tile.dtype), k_tile, input_precision=PRECISION)
        _store_rows(
            DQ + w * stride_gb + h * stride_gh, dq * scale, offs_m, offs_d, stride_gn, N, HEAD_DIM
        )


def _region_arg(region_ids: Tensor | None, like: Tensor) -> tuple[Tensor, int]:
    """Region ids as contiguous int32 and their window count (a dummy when absent)."""
    if region_ids is None:
        return torch.zeros(1, device=like.device, dtype=torch.int32), 1
    return region_ids.to(device=like.device, dtype=torch.int32).contiguous(), region_ids.shape[0]


def window_attention_fwd(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    rpb_table: Tensor,
    rel_index: Tensor,
    region_ids: Tensor | None,
    scale: float,
) -> tuple[Tensor, Tensor]:
    """Launch the forward kernel.

    Args:
        q: Queries ``(B·nW, H, N, D)``; k, v: keys and values of the same shape.
        rpb_table: Relative position bias table ``(H, T)``.
        rel_index: Integer ``(N, N)`` index into the table's second dim.
        region_ids: Optional integer ``(nW, N)`` region ids.
        scale: Logit scale.

    Returns:
        ``(out, lse)``: the output ``(B·nW, H, N, D)`` in ``q``'s dtype and the per-row
        log-sum-exp ``(B·nW, H, N)`` in fp32, log2 units (saved for the backward).
    """
    q, k, v = unit_last_stride(q), unit_last_stride(k), unit_last_stride(v)
    bw, h, n, d = q.shape
    table = rpb_table.contiguous()
    rel = rel_index.to(device=q.device, dtype=torch.int32).contiguous()
    region, nw = _region_arg(region_ids, q)
    out = torch.empty_like(q, memory_format=torch.contiguous_format)
    lse = torch.empty((bw, h, n), device=q.device, dtype=torch.float32)
    block_m, block_n, block_d = block_sizes(n, n, d, q.dtype)
    grid = (bw * h, triton.cdiv(n, block_m))
    _window_attention_fwd_kernel[grid](
        q,
        k,
        v,
        table,
        rel,
        region,
        out,
        lse,
        *q.stride()[:3],
        *k.stride()[:3],
        *v.stride()[:3],
        *out.stride()[:3],
        table.stride(0),
        h,
        n,
        nw,
        d,
        scale * LOG2E,
        HAS_REGION=region_ids is not None,
        BLOCK_M=block_m,
        BLOCK_N=block_n,
        BLOCK_D=block_d,
        PRECISION=dot_precision(q.dtype),
    )
    return out, lse


def window_attention_bwd(
    grad_out: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    rpb_table: Tensor,
    rel_index: Tensor,
    region_ids: Tensor | None,
    scale: float,
    table_grad: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Launch the preprocess and backward kernels.

    Returns:
        ``(dq, dk, dv, d_table)``; ``d_table`` is zeros when ``table_grad`` is False.
    """
    q, k, v = unit_last_stride(q), unit_last_stride(k), unit_last_stride(v)
    grad_out = unit_last_stride(grad_out)
    bw, h, n, d = q.shape
    table = rpb_table.contiguous()
    t = table.shape[1]
    rel = rel_index.to(device=q.device, dtype=torch.int32).contiguous()
    region, nw = _region_arg(region_ids, q)
    delta = bwd_preprocess(out, grad_out)
    dq = torch.empty(q.shape, device=q.device, dtype=q.dtype)
    dk = torch.empty_like(dq)
    dv = torch.empty_like(dq)
    partials = min(bw, MAX_TABLE_PARTIALS) if table_grad else 1
    dtable = torch.zeros((partials, h, t), device=q.device, dtype=torch.float32)
    block_m, block_n, block_d = block_sizes(n, n, d, q.dtype)
    grid = (bw * h, triton.cdiv(n, block_m))
    _window_attention_bwd_kernel[grid](
        q,
        k,
        v,
        table,
        rel,
        region,
        grad_out,
        lse,
        delta,
        dq,
        dk,
        dv,
        dtable,
        *q.stride()[:3],
        *k.stride()[:3],
        *v.stride()[:3],
        *grad_out.stride()[:3],
        *dq.stride()[:3],
        table.stride(0),
        h,
        n,
        nw,
        t,
        partials,
        d,
        scale,
        scale * LOG2E,
        HAS_REGION=region_ids is not None,
        TABLE_GRAD=table_grad,
        ONE_BLOCK=triton.cdiv(n, block_m) == 1,
        BLOCK_M=block_m,
        BLOCK_N=block_n,
        BLOCK_D=block_d,
        PRECISION=dot_precision(q.dtype),
    )
    return dq, dk, dv, dtable.sum(0).to(rpb_table.dtype)


def window_attention_triton(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    rpb_table: Tensor,
    rel_index: Tensor,
    region_ids: Tensor | None = None,
    scale: float | None = None,
) -> Tensor:
    """Differentiable fused windowed attention (the ``hybridnets::window_attention`` op).

    Same contract as :func:`hybridnets.ops.reference.window_attention_reference`; gradients flow
    to ``q``, ``k``, ``v`` and ``rpb_table``.

        out = window_attention_triton(q, k, v, table, rel_index, region_ids)
    """
    from hybridnets.ops import custom_ops  # registers the op; ops -> kernels otherwise

    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    return custom_ops.window_attention_op(q, k, v, rpb_table, rel_index, region_ids, scale)
