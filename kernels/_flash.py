"""Shared pieces of the fused-attention kernels (FlashAttention-2, Dao 2023).

The math follows Triton's fused-attention tutorial: logits are kept in log2 units so the online
softmax uses ``exp2``; the forward saves the per-row log-sum-exp (also in log2 units); the
backward first computes ``delta = rowsum(dO · O)`` in a preprocess pass, then recomputes the
probabilities tile by tile. Op kernels (``window_attention.py``, ``attention.py``) only differ in
how they build the additive bias and the validity mask of a ``(BLOCK_M, BLOCK_N)`` tile; the
per-tile math lives here as ``@triton.jit`` helpers.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from torch import Tensor

LOG2E = 1.4426950408889634
MAX_HEAD_DIM = 128
SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def interpreting() -> bool:
    """True when ``TRITON_INTERPRET`` asks for Triton's CPU interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def block_sizes(lq: int, lk: int, head_dim: int, dtype: torch.dtype) -> tuple[int, int, int]:
    """Tile sizes ``(BLOCK_M, BLOCK_N, BLOCK_D)`` for query length, key length and head dim.

    Lengths and head dims that are not powers of two are padded to the next one and the padding
    is masked out. Tiles are at least 16 wide (the minimum ``tl.dot`` accepts) and at most 64.
    """
    cap = 32 if dtype == torch.float32 and head_dim > 64 else 64
    block_m = max(16, min(cap, triton.next_power_of_2(lq)))
    block_n = max(16, min(cap, triton.next_power_of_2(lk)))
    block_d = max(16, triton.next_power_of_2(head_dim))
    return block_m, block_n, block_d


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision.

    fp32 inputs use TF32 tensor cores only where torch allows it for matmuls
    (``torch.backends.cuda.matmul.allow_tf32``), IEEE fp32 otherwise; fp16/bf16 inputs always use
    tensor cores with fp32 accumulation (the setting does not apply to them).
    """
    if dtype != torch.float32 or (torch.backends.cuda.matmul.allow_tf32 and not interpreting()):
        return "tf32"
    return "ieee"


def unit_last_stride(t: Tensor) -> Tensor:
    """``t`` itself when its last dim is contiguous (the kernels take any other strides)."""
    return t if t.stride(-1) == 1 else t.contiguous()


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
    pid_m = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    o = _load_rows(Out + b * stride_ob + h * stride_oh, offs_m, offs_d, stride_om, L, HEAD_DIM)
    do = _load_rows(DO + b * stride_dob + h * stride_doh, offs_m, offs_d, stride_dom, L, HEAD_DIM)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)
    tl.store(Delta + pid_bh * L + offs_m, delta, mask=offs_m < L)


def bwd_preprocess(out: Tensor, grad_out: Tensor) -> Tensor:
    """Launch the preprocess pass; returns ``delta`` ``(B, H, L)`` in fp32."""
    b, h, length, d = out.shape
    delta = torch.empty((b, h, length), device=out.device, dtype=torch.float32)
    block_m = max(16, min(64, triton.next_power_of_2(length)))
    block_d = max(16, triton.next_power_of_2(d))
    grid = (b * h, triton.cdiv(length, block_m))
    _bwd_preprocess_kernel[grid](
        out,
        grad_out,
        delta,
        out.stride(0),
        out.stride(1),
        out.stride(2),
        grad_out.stride(0),
        grad_out.stride(1),
        grad_out.stride(2),
        h,
        length,
        d,
        BLOCK_M=block_m,
        BLOCK_D=block_d,
    )
    return delta
