"""Fused windowed attention with relative position bias and region (shift / padding) mask.

Swin Transformer (Liu et al., ICCV 2021) attention inside windows, computed with the
FlashAttention-2 algorithm (Dao, 2023) as in Triton's fused-attention tutorial. The relative
position bias is gathered inside the kernel from the ``(H, T)`` table through the ``(N, N)``
index, and the mask is computed inside the kernel from the ``(nW, N)`` region ids, so no
``(H, N, N)`` bias nor ``(nW, N, N)`` mask is ever written to memory.

    out, lse = window_attention_fwd(q, k, v, rpb_table, rel_index, region_ids, scale)
    dq, dk, dv, d_table = window_attention_bwd(grad_out, q, k, v, out, lse, rpb_table, ...)

Plain tensors in and out; autograd and the ``hybridnets::window_attention`` custom op live in
:mod:`hybridnets.ops.custom_ops`. The backward accumulates the table gradient with fp32 atomics
into a small ``(P, H, T)`` buffer of per-group partials (window ``w`` adds into partial
``w % P``, which spreads the contention of many windows over ``P`` copies) summed afterwards.
"""

from __future__ import annotations

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
    offs_m, offs_n, rid_m, table_row, Rel, region_row, N, HAS_REGION: tl.constexpr
):
    """Gather the ``(BLOCK_M, BLOCK_N)`` bias tile and its validity mask.

    Returns ``(bias, valid, rel)``: the fp32 bias ``table[h, rel_index[m, n]]``, True where query
    ``m`` may attend to key ``n`` (both in range and, with regions, in the same region), and the
    gathered table indices (for the table gradient).
    """
    valid = (offs_m[:, None] < N) & (offs_n[None, :] < N)
    rel = tl.load(Rel + offs_m[:, None] * N + offs_n[None, :], mask=valid, other=0)
    bias = tl.load(table_row + rel, mask=valid, other=0.0).to(tl.float32)
    if HAS_REGION:
        rid_n = tl.load(region_row + offs_n, mask=offs_n < N, other=-1)
        valid = valid & (rid_m[:, None] == rid_n[None, :])
    return bias, valid, rel


@autotuned_forward
@triton.jit
def _window_attention_fwd_kernel(
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
    Table,
    Rel,
    Region,
    stride_th,
    NW,
    HAS_REGION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Program ``(w·H + h, i)``: query tile ``i`` of head ``h`` in window ``w`` (LQ = LK = N)."""
    pid_bh = tl.program_id(0).to(tl.int64)
    w = pid_bh // H
    h = pid_bh % H
    offs_m = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    region_row = Region + (w % NW) * LK
    table_row = Table + h * stride_th
    rid_m = _region_ids_of(region_row, offs_m, LQ, HAS_REGION)
    q = _load_rows(Q + w * stride_qb + h * stride_qh, offs_m, offs_d, stride_qm, LQ, HEAD_DIM)
    k_base = K + w * stride_kb + h * stride_kh
    v_base = V + w * stride_vb + h * stride_vh

    m_i, l_i, acc = _fwd_init(BLOCK_M, BLOCK_D)
    for start_n in range(0, LK, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        k = _load_rows(k_base, offs_n, offs_d, stride_kn, LK, HEAD_DIM)
        v = _load_rows(v_base, offs_n, offs_d, stride_vn, LK, HEAD_DIM)
        bias, valid, _rel = _window_bias_mask(
            offs_m, offs_n, rid_m, table_row, Rel, region_row, LK, HAS_REGION
        )
        qk = _logits(q, k, bias, valid, qk_scale, PRECISION)
        m_i, l_i, acc = _fwd_step(qk, v, m_i, l_i, acc, PRECISION)

    out_base = Out + w * stride_ob + h * stride_oh
    _fwd_finish(out_base, Lse + pid_bh * LQ, acc, m_i, l_i, offs_m, offs_d, stride_om, LQ, HEAD_DIM)


@autotuned_backward(reset_to_zero="DTable")
@triton.jit
def _window_attention_bwd_kernel(
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
    Table,
    Rel,
    Region,
    DTable,
    stride_th,
    NW,
    T,
    N_PARTIALS,
    HAS_REGION: tl.constexpr,
    TABLE_GRAD: tl.constexpr,
    ONE_BLOCK: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Program ``(w·H + h, i)`` computes dK, dV (and the table gradient) of key tile ``i`` and dQ
    of query tile ``i``. With ``ONE_BLOCK`` (the window fits one tile, e.g. N = 49) one pass
    gives all of them."""
    pid_bh = tl.program_id(0).to(tl.int64)
    pid = tl.program_id(1)
    w = pid_bh // H
    h = pid_bh % H
    offs_d = tl.arange(0, BLOCK_D)
    region_row = Region + (w % NW) * LK
    table_row = Table + h * stride_th
    dtable_row = DTable + ((w % N_PARTIALS) * H + h) * T
    q_base = Q + w * stride_qb + h * stride_qh
    k_base = K + w * stride_kb + h * stride_kh
    v_base = V + w * stride_vb + h * stride_vh
    do_base = DO + w * stride_dob + h * stride_doh
    dq_base = DQ + w * stride_dqb + h * stride_dqh
    lse_row = Lse + pid_bh * LQ
    delta_row = Delta + pid_bh * LQ

    if pid * BLOCK_N < LK:
        # dK, dV (and the table gradient) of key tile `pid`: loop over every query tile.
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
            rid_m = _region_ids_of(region_row, offs_m, LQ, HAS_REGION)
            bias, valid, rel = _window_bias_mask(
                offs_m, offs_n, rid_m, table_row, Rel, region_row, LK, HAS_REGION
            )
            qk = _logits(q, k, bias, valid, qk_scale, PRECISION)
            p, ds = _bwd_ds(qk, lse, delta, do, v, PRECISION)
            dk, dv = _bwd_kv_step(p, ds, q, do, dk, dv, PRECISION)
            if TABLE_GRAD:
                tl.atomic_add(dtable_row + rel, ds, mask=valid, sem="relaxed")
            if ONE_BLOCK:
                dq = tl.dot(ds.to(k.dtype), k, input_precision=PRECISION) * scale
                _store_rows(dq_base, dq, offs_m, offs_d, stride_dqm, LQ, HEAD_DIM)
        dk_base = DK + w * stride_dkb + h * stride_dkh
        dv_base = DV + w * stride_dkb + h * stride_dkh
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
            rid_m = _region_ids_of(region_row, offs_m, LQ, HAS_REGION)
            dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
            for start_n in range(0, LK, BLOCK_N):
                offs_n = start_n + tl.arange(0, BLOCK_N)
                k = _load_rows(k_base, offs_n, offs_d, stride_kn, LK, HEAD_DIM)
                v = _load_rows(v_base, offs_n, offs_d, stride_vn, LK, HEAD_DIM)
                bias, valid, _rel = _window_bias_mask(
                    offs_m, offs_n, rid_m, table_row, Rel, region_row, LK, HAS_REGION
                )
                qk = _logits(q, k, bias, valid, qk_scale, PRECISION)
                _p, ds = _bwd_ds(qk, lse, delta, do, v, PRECISION)
                dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)
            _store_rows(dq_base, dq * scale, offs_m, offs_d, stride_dqm, LQ, HEAD_DIM)


def _index_args(
    q: Tensor, rpb_table: Tensor, rel_index: Tensor, region_ids: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, int]:
    """The table (unit last stride), the index and region ids as contiguous int32 (a dummy
    without regions), and the number of windows per image."""
    table = rpb_table.contiguous()
    rel = rel_index.to(device=q.device, dtype=torch.int32).contiguous()
    if region_ids is None:
        return table, rel, torch.zeros(1, device=q.device, dtype=torch.int32), 1
    region = region_ids.to(device=q.device, dtype=torch.int32).contiguous()
    return table, rel, region, region_ids.shape[0]


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
        region_ids: Optional integer ``(nW, N)`` region ids; tokens attend within their region.
        scale: Logit scale.

    Returns:
        ``(out, lse)``: the output ``(B·nW, H, N, D)`` in ``q``'s dtype and the per-row
        log-sum-exp ``(B·nW, H, N)`` in fp32, log2 units (saved for the backward).
    """
    table, rel, region, nw = _index_args(q, rpb_table, rel_index, region_ids)
    op_args = (table, rel, region, table.stride(0), nw)
    kernel = _window_attention_fwd_kernel
    return launch_forward(kernel, q, k, v, scale, op_args, HAS_REGION=region_ids is not None)


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

    Args:
        grad_out: Gradient of the output; out, lse: what :func:`window_attention_fwd` returned.
        q, k, v, rpb_table, rel_index, region_ids, scale: The forward's inputs.
        table_grad: Compute the table gradient.

    Returns:
        ``(dq, dk, dv, d_table)``; ``d_table`` has the table's shape and dtype and is zeros when
        ``table_grad`` is False.
    """
    table, rel, region, nw = _index_args(q, rpb_table, rel_index, region_ids)
    heads, size = table.shape
    partials = min(q.shape[0], MAX_TABLE_PARTIALS) if table_grad else 1
    dtable = torch.zeros((partials, heads, size), device=q.device, dtype=torch.float32)
    op_args = (table, rel, region, dtable, table.stride(0), nw, size, partials)
    dq, dk, dv = launch_backward(
        _window_attention_bwd_kernel,
        grad_out,
        q,
        k,
        v,
        out,
        lse,
        scale,
        op_args,
        HAS_REGION=region_ids is not None,
        TABLE_GRAD=table_grad,
    )
    return dq, dk, dv, dtable.sum(0).to(rpb_table.dtype)
