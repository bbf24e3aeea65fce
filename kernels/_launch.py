"""Host side of the fused-attention kernels: tiles, autotuning, strides, grids and launches.

Both ops (``window_attention.py``, ``attention.py``) run the same FlashAttention-2 pipeline and
order their kernel arguments the same way, so one forward and one backward launcher serve both:

    forward:  Q, K, V, Out, Lse, <(batch, head, row) strides of q, k, v, out>,
              H, LQ, LK, HEAD_DIM, qk_scale, <op arguments>, <op constexprs>,
              BLOCK_M, BLOCK_N, BLOCK_D, PRECISION
    backward: Q, K, V, DO, Lse, Delta, DQ, DK, DV, <strides of q, k, v, dO, dq, dk>,
              H, LQ, LK, HEAD_DIM, scale, qk_scale, <op arguments>, <op constexprs>,
              ONE_BLOCK, BLOCK_M, BLOCK_N, BLOCK_D, PRECISION

``BLOCK_M`` / ``BLOCK_N`` (and ``num_warps`` / ``num_stages``) come from ``triton.autotune``,
once per (Lq, Lk, head dim, dtypes). Under ``TRITON_INTERPRET=1``, or with
``HYBRIDNETS_TRITON_AUTOTUNE=0`` (quick first calls, e.g. in tests), the candidates are pruned to
the one default tile, so nothing is benchmarked. fp32 inputs use IEEE fp32 dot products unless
``torch.backends.cuda.matmul.allow_tf32`` is set, in which case they use TF32.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
import triton
from torch import Tensor

from hybridnets.kernels._flash import _bwd_preprocess_kernel

LOG2E = 1.4426950408889634
MIN_TILE = 16  # the smallest dimension tl.dot accepts
MAX_HEAD_DIM = 128
TUNING_KEY = ["LQ", "LK", "HEAD_DIM"]  # the autotuner adds the dtypes of the tensor arguments
AUTOTUNE_ENV_VAR = "HYBRIDNETS_TRITON_AUTOTUNE"


def interpreting() -> bool:
    """True when ``TRITON_INTERPRET`` asks for Triton's CPU interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def autotuning() -> bool:
    """False when interpreting or when ``HYBRIDNETS_TRITON_AUTOTUNE=0``: use the default tile."""
    return not interpreting() and os.environ.get(AUTOTUNE_ENV_VAR, "1").strip() != "0"


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


def tile(length: int, cap: int = 64) -> int:
    """The power-of-two tile covering ``length`` (padding masked out), within ``[16, cap]``."""
    return max(MIN_TILE, min(cap, triton.next_power_of_2(length)))


def head_dim_tile(head_dim: int) -> int:
    """``BLOCK_D``: the head dim rounded up to a power of two, at least 16, at most 128."""
    if head_dim > MAX_HEAD_DIM:
        raise ValueError(
            f"head_dim {head_dim} > {MAX_HEAD_DIM}: the kernels keep one row in a tile"
        )
    return tile(head_dim, MAX_HEAD_DIM)


def default_tiles(lq: int, lk: int, head_dim: int, dtype: torch.dtype) -> tuple[int, int]:
    """``(BLOCK_M, BLOCK_N)`` without autotuning: up to 64, 32 for fp32 with head dims over 64."""
    cap = 32 if dtype == torch.float32 and head_dim > 64 else 64
    return tile(lq, cap), tile(lk, cap)


def _config(block_m: int, block_n: int, num_warps: int, num_stages: int) -> triton.Config:
    kwargs = {"BLOCK_M": block_m, "BLOCK_N": block_n}
    return triton.Config(kwargs, num_warps=num_warps, num_stages=num_stages)


# Candidates, not measurements (benchmarks/README.md, "Static review for H100"). 64×64 covers a
# 7×7 window (N = 49) in one tile, and in the backward gives dQ, dK, dV in one pass; 32-row
# query tiles give problems with few (window, head) pairs more programs; 128×64 with 8 warps is
# the tutorial's H100 forward tile for long sequences (N = 343); 32×32 with one stage always fits
# in shared memory (fp32 with head dim 128). Configs that do not fit are skipped when tuning.
FORWARD_CONFIGS = [
    _config(64, 64, 4, 2),
    _config(64, 64, 4, 3),
    _config(32, 64, 4, 2),
    _config(128, 64, 8, 3),
    _config(32, 32, 4, 1),
]
BACKWARD_CONFIGS = [
    _config(64, 64, 4, 1),
    _config(64, 64, 8, 2),
    _config(32, 64, 4, 2),
    _config(32, 32, 4, 1),
]


def prune_configs(
    configs: list[triton.Config], named_args: dict[str, Any], **kwargs: Any
) -> list[triton.Config]:
    """Drop tiles much longer than the sequences; only the default tile without autotuning."""
    lq, lk, head_dim = named_args["LQ"], named_args["LK"], named_args["HEAD_DIM"]
    default = _config(*default_tiles(lq, lk, head_dim, named_args["Q"].dtype), 4, 2)
    if not autotuning():
        return [default]
    fits = [
        c
        for c in configs
        if c.kwargs["BLOCK_M"] <= tile(lq, 128) and c.kwargs["BLOCK_N"] <= tile(lk, 128)
    ]
    return fits or [default]


def _one_block(args: dict[str, Any]) -> bool:
    """Queries and keys each fit one tile: one backward pass gives dQ, dK and dV."""
    return args["LQ"] <= args["BLOCK_M"] and args["LK"] <= args["BLOCK_N"]


def autotuned_forward(kernel: Any) -> Any:
    """``triton.autotune`` over :data:`FORWARD_CONFIGS` for a forward kernel."""
    prune = {"early_config_prune": prune_configs}
    return triton.autotune(FORWARD_CONFIGS, key=TUNING_KEY, prune_configs_by=prune)(kernel)


def autotuned_backward(reset_to_zero: str) -> Callable[[Any], Any]:
    """``triton.autotune`` over :data:`BACKWARD_CONFIGS` plus the ``ONE_BLOCK`` flag.

    Args:
        reset_to_zero: The argument the kernel accumulates into with atomics (the bias or table
            gradient); it is zeroed before every benchmarked run.
    """
    prune = {"early_config_prune": prune_configs}

    def decorate(kernel: Any) -> Any:
        flagged = triton.heuristics({"ONE_BLOCK": _one_block})(kernel)
        return triton.autotune(
            BACKWARD_CONFIGS, key=TUNING_KEY, prune_configs_by=prune, reset_to_zero=[reset_to_zero]
        )(flagged)

    return decorate


def _strides(*tensors: Tensor) -> list[int]:
    """The ``(batch, head, row)`` strides of each ``(B, H, L, D)`` tensor, in order."""
    return [s for t in tensors for s in t.stride()[:3]]


def launch_forward(
    kernel: Any,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    op_args: Sequence[Any],
    **constexprs: Any,
) -> tuple[Tensor, Tensor]:
    """Run a forward kernel over ``(B·H, query tiles)``.

    Args:
        kernel: An autotuned forward kernel with the argument order of this module's docstring.
        q: Queries ``(B, H, Lq, D)``; k, v: keys and values ``(B, H, Lk, D)``.
        scale: Logit scale.
        op_args: The op's own arguments (bias, mask, table …), passed after ``qk_scale``.
        **constexprs: The op's own compile-time flags.

    Returns:
        ``(out, lse)``: the output ``(B, H, Lq, D)`` in ``q``'s dtype and the per-row
        log-sum-exp ``(B, H, Lq)`` in fp32, log2 units.
    """
    q, k, v = unit_last_stride(q), unit_last_stride(k), unit_last_stride(v)
    b, h, lq, d = q.shape
    lk = k.shape[2]
    out = torch.empty(q.shape, device=q.device, dtype=q.dtype)
    lse = torch.empty((b, h, lq), device=q.device, dtype=torch.float32)

    def grid(meta: dict[str, Any]) -> tuple[int, int]:
        return (b * h, triton.cdiv(lq, meta["BLOCK_M"]))

    kernel[grid](
        q,
        k,
        v,
        out,
        lse,
        *_strides(q, k, v, out),
        h,
        lq,
        lk,
        d,
        scale * LOG2E,
        *op_args,
        BLOCK_D=head_dim_tile(d),
        PRECISION=dot_precision(q.dtype),
        **constexprs,
    )
    return out, lse


def launch_backward(
    kernel: Any,
    grad_out: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    scale: float,
    op_args: Sequence[Any],
    **constexprs: Any,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run the preprocess pass, then a backward kernel over ``(B·H, max(query, key tiles))``.

    Program ``(bh, i)`` computes dK, dV of key tile ``i`` and dQ of query tile ``i``.

    Args:
        kernel: An autotuned backward kernel with the argument order of this module's docstring.
        grad_out: Gradient of the output ``(B, H, Lq, D)``.
        q: Queries; k, v: keys and values; out, lse: what the forward returned.
        scale: Logit scale.
        op_args: The op's own arguments (bias, table, their gradients …).
        **constexprs: The op's own compile-time flags.

    Returns:
        ``(dq, dk, dv)`` in the dtypes of ``q``, ``k``, ``v``.
    """
    q, k, v = unit_last_stride(q), unit_last_stride(k), unit_last_stride(v)
    grad_out = unit_last_stride(grad_out)
    b, h, lq, d = q.shape
    lk = k.shape[2]
    delta = bwd_preprocess(out, grad_out)
    dq = torch.empty(q.shape, device=q.device, dtype=q.dtype)
    dk = torch.empty(k.shape, device=q.device, dtype=k.dtype)
    dv = torch.empty(k.shape, device=q.device, dtype=v.dtype)

    def grid(meta: dict[str, Any]) -> tuple[int, int]:
        return (b * h, max(triton.cdiv(lq, meta["BLOCK_M"]), triton.cdiv(lk, meta["BLOCK_N"])))

    kernel[grid](
        q,
        k,
        v,
        grad_out,
        lse,
        delta,
        dq,
        dk,
        dv,
        *_strides(q, k, v, grad_out, dq, dk),
        h,
        lq,
        lk,
        d,
        scale,
        scale * LOG2E,
        *op_args,
        BLOCK_D=head_dim_tile(d),
        PRECISION=dot_precision(q.dtype),
        **constexprs,
    )
    return dq, dk, dv


def bwd_preprocess(out: Tensor, grad_out: Tensor) -> Tensor:
    """``delta = rowsum(out · grad_out)`` ``(B, H, L)`` in fp32 (a memory-bound pass)."""
    out, grad_out = unit_last_stride(out), unit_last_stride(grad_out)
    b, h, length, d = out.shape
    delta = torch.empty((b, h, length), device=out.device, dtype=torch.float32)
    block_m = tile(length)
    _bwd_preprocess_kernel[(b * h, triton.cdiv(length, block_m))](
        out,
        grad_out,
        delta,
        *_strides(out, grad_out),
        h,
        length,
        d,
        BLOCK_M=block_m,
        BLOCK_D=head_dim_tile(d),
    )
    return delta
