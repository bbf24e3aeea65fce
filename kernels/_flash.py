"""Per-tile math shared by the fused-attention kernels (FlashAttention-2, Dao 2023).

The math follows Triton's fused-attention tutorial: logits are kept in log2 units so the online
softmax uses ``exp2``; the forward saves the per-row log-sum-exp (also in log2 units); the
backward first computes ``delta = rowsum(dO · O)`` in a preprocess pass, then recomputes the
probabilities tile by tile. Op kernels (``window_attention.py``, ``attention.py``) only differ in
how they build the additive bias and the validity mask of a ``(BLOCK_M, BLOCK_N)`` tile; every
other step is a ``@triton.jit`` helper here. The host side (tiles, autotuning, grids, strides)
is in ``_launch.py``.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _load_rows(base, offs_rows, offs_d, stride_row, n_rows, head_dim):
    """Load a ``(rows, BLOCK_D)`` tile; rows past ``n_rows`` and dims past ``head_dim`` read 0."""
    ptrs = base + offs_rows[:, None] * stride_row + offs_d[None, :]
    mask = (offs_rows[:, None] < n_rows) & (offs_d[None, :] < head_dim)
    return tl.load(ptrs, mask=mask, other=0.0)


@triton.jit
def _store_rows(base, value, offs_rows, offs_d, stride_row, n_rows, head_dim):
    """Store a ``(rows, BLOCK_D)`` tile, skipping padded rows and dims."""
    ptrs = base + offs_rows[:, None] * stride_row + offs_d[None, :]
    mask = (offs_rows[:, None] < n_rows) & (offs_d[None, :] < head_dim)
    tl.store(ptrs, value.to(base.dtype.element_ty), mask=mask)


@triton.jit
def _logits(q, k, bias, valid, qk_scale, PRECISION: tl.constexpr):
    """``(BLOCK_M, BLOCK_N)`` logits in log2 units (``qk_scale`` includes log2 e), ``-1e30``
    where ``valid`` is False. ``bias`` is the fp32 additive bias in natural units."""
    qk = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale + bias * 1.4426950408889634
    return tl.where(valid, qk, -1.0e30)


@triton.jit
def _fwd_init(BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr):
    """Online-softmax state ``(m_i, l_i, acc)``: row max, row sum, unnormalised output."""
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    return m_i, l_i, acc


@triton.jit
def _fwd_step(qk, v, m_i, l_i, acc, PRECISION: tl.constexpr):
    """One online-softmax step over a key tile.

    Args:
        qk: ``(BLOCK_M, BLOCK_N)`` fp32 logits in log2 units, masked entries at -1e30.
        v: ``(BLOCK_N, BLOCK_D)`` values.
        m_i: Running row max; l_i: running row sum; acc: running ``(BLOCK_M, BLOCK_D)`` output.
        PRECISION: ``tl.dot`` input precision.
    """
    m_new = tl.maximum(m_i, tl.max(qk, 1))
    p = tl.math.exp2(qk - m_new[:, None])
    alpha = tl.math.exp2(m_i - m_new)
    l_i = l_i * alpha + tl.sum(p, 1)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
    return m_new, l_i, acc


@triton.jit
def _fwd_finish(out_base, lse_row, acc, m_i, l_i, offs_m, offs_d, stride_om, LQ, HEAD_DIM):
    """Normalise and store the output tile and the log-sum-exp (log2 units) of its rows.

    A row with no key to attend to (every logit masked to -1e30, or -inf from the bias) gets
    a zero output and a log-sum-exp of +inf, so the backward's recomputed probabilities
    ``exp2(qk - lse)`` are 0 there and no gradient flows (the reference's semantics).
    """
    empty = m_i <= -1.0e30
    l_i = tl.where(empty, 1.0, l_i)
    out = tl.where(empty[:, None], 0.0, acc / l_i[:, None])
    _store_rows(out_base, out, offs_m, offs_d, stride_om, LQ, HEAD_DIM)
    lse = tl.where(empty, float("inf"), m_i + tl.math.log2(l_i))
    tl.store(lse_row + offs_m, lse, mask=offs_m < LQ)


@triton.jit
def _row_stats(lse_row, delta_row, offs_m, LQ):
    """The forward's log-sum-exp and the preprocess pass's ``delta`` of the query rows."""
    lse = tl.load(lse_row + offs_m, mask=offs_m < LQ, other=0.0)
    delta = tl.load(delta_row + offs_m, mask=offs_m < LQ, other=0.0)
    return lse, delta


@triton.jit
def _bwd_ds(qk, lse, delta, do, v, PRECISION: tl.constexpr):
    """Recompute probabilities and the logit gradient of one tile.

    Returns ``(p, ds)``: ``p = softmax`` entries (0 where masked) and ``ds = p · (dP - delta)``,
    the gradient of the loss with respect to the natural-unit logits (which is also the
    gradient of the additive bias).
    """
    p = tl.math.exp2(qk - lse[:, None])
    dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)
    ds = p * (dp - delta[:, None])
    return p, ds


@triton.jit
def _bwd_kv_step(p, ds, q, do, dk, dv, PRECISION: tl.constexpr):
    """Accumulate one query tile's contribution to ``dK`` (unscaled) and ``dV``."""
    dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=PRECISION)
    dk += tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision=PRECISION)
    return dk, dv


@triton.jit
def _bwd_preprocess_kernel(
    Out,
    DO,
    Delta,
    stride_ob,
    stride_oh,
    stride_om,
    stride_dob,
    stride_doh,
    stride_dom,
    H,
    L,
    HEAD_DIM,
    BLOCK_M: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """``delta[bh, m] = sum_d O[bh, m, d] · dO[bh, m, d]`` in fp32."""
    pid_bh = tl.program_id(0).to(tl.int64)
    b = pid_bh // H
    h = pid_bh % H
    offs_m = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    o = _load_rows(Out + b * stride_ob + h * stride_oh, offs_m, offs_d, stride_om, L, HEAD_DIM)
    do = _load_rows(DO + b * stride_dob + h * stride_doh, offs_m, offs_d, stride_dom, L, HEAD_DIM)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)
    tl.store(Delta + pid_bh * L + offs_m, delta, mask=offs_m < L)
