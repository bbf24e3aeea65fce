"""Triton backend adapter: routes to the fused kernels in ``hybridnets.kernels``.

The kernels run as the torch custom ops ``hybridnets::window_attention`` and
``hybridnets::attention`` (see :mod:`hybridnets.ops.custom_ops`). Triton is imported only when a
kernel first runs, so ``import hybridnets`` works where Triton is not installed; the backend then
refuses, saying why, and dispatch falls back to SDPA.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import torch
from torch import Tensor

from hybridnets.ops import custom_ops

MAX_HEAD_DIM = 128
DTYPES = (torch.float16, torch.bfloat16, torch.float32)


_triton_error: list[str | None] = []  # filled on first use


@torch.compiler.assume_constant_result
def _triton_import_error() -> str | None:
    """Why Triton cannot be imported (None when it can); checked once per process."""
    if not _triton_error:
        try:
            importlib.import_module("triton")
            _triton_error.append(None)
        except Exception as exc:  # ImportError, or a broken install raising anything else
            _triton_error.append(f"triton is not importable ({type(exc).__name__}: {exc})")
    return _triton_error[0]


@torch.compiler.assume_constant_result
def _interpreting() -> bool:
    """True when ``TRITON_INTERPRET`` asks for Triton's CPU interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _common_reasons(q: Tensor, k: Tensor | None, v: Tensor | None) -> list[str]:
    """Reasons shared by both ops: Triton, device, dtype, rank and head dim of q, k, v."""
    reasons = []
    error = _triton_import_error()
    if error:
        reasons.append(error)
    if k is None or v is None:
        return [*reasons, "k and v are required"]
    tensors = {"q": q, "k": k, "v": v}
    for name, t in tensors.items():
        if t.dim() != 4:
            reasons.append(f"{name} has {t.dim()} dims, expected 4")
    if reasons:
        return reasons
    devices = {t.device for t in tensors.values()}
    if len(devices) > 1:
        reasons.append(f"q, k, v are on different devices ({', '.join(map(str, devices))})")
    if q.device.type != "cuda" and not _interpreting():
        reasons.append(
            f"tensors are on {q.device.type}; the kernels need CUDA "
            "(or TRITON_INTERPRET=1 for Triton's CPU interpreter)"
        )
    if q.dtype not in DTYPES:
        reasons.append(f"dtype {q.dtype} is not one of float16, bfloat16, float32")
    elif k.dtype != q.dtype or v.dtype != q.dtype:
        reasons.append(f"q, k, v dtypes differ ({q.dtype}, {k.dtype}, {v.dtype})")
    elif q.dtype == torch.bfloat16 and q.device.type == "cpu":
        reasons.append("Triton's CPU interpreter miscomputes bfloat16 matmuls")
    elif (
        q.dtype == torch.bfloat16
        and q.device.type == "cuda"
        and torch.cuda.get_device_capability(q.device) < (8, 0)
    ):
        reasons.append("bfloat16 needs a GPU of compute capability 8.0 or newer")
    d = q.shape[-1]
    if not 1 <= d <= MAX_HEAD_DIM:
        reasons.append(f"head_dim {d} is outside 1..{MAX_HEAD_DIM}")
    if k.shape[-1] != d or v.shape[-1] != d:
        reasons.append(f"head dims differ (q {d}, k {k.shape[-1]}, v {v.shape[-1]})")
    if 0 in q.shape or 0 in k.shape:
        reasons.append("empty input")
    return reasons


@dataclass(frozen=True)
class TritonBackend:
    """Fused Triton kernels: bias and masks read inside the kernel, never materialised.

    Runs on CUDA, or on CPU under ``TRITON_INTERPRET=1`` (for tests); fp16, bf16 and fp32
    (fp32 uses TF32 only when ``torch.backends.cuda.matmul.allow_tf32`` is set), head dims up to
    128, any sequence length.
    """

    name: str = "triton"

    def supports_window_attention(
        self,
        q: Tensor,
        k: Tensor | None = None,
        v: Tensor | None = None,
        rpb_table: Tensor | None = None,
        rel_index: Tensor | None = None,
        region_ids: Tensor | None = None,
        **kwargs,
    ) -> list[str]:
        """Reasons the window kernel cannot run these inputs (empty: it can)."""
        reasons = _common_reasons(q, k, v)
        if reasons and any("dims, expected 4" in r or "required" in r for r in reasons):
            return reasons
        bw, h, n, _ = q.shape
        if k.shape != q.shape or v.shape != q.shape:
            reasons.append(
                f"q, k, v shapes differ ({list(q.shape)}, {list(k.shape)}, {list(v.shape)})"
            )
        if rpb_table is None or rel_index is None:
            return [*reasons, "rpb_table and rel_index are required"]
        if rpb_table.dim() != 2 or rpb_table.shape[0] != h:
            reasons.append(f"rpb_table has shape {list(rpb_table.shape)}, expected ({h}, T)")
        elif not rpb_table.is_floating_point():
            reasons.append(f"rpb_table dtype {rpb_table.dtype} is not floating point")
        if tuple(rel_index.shape) != (n, n):
            reasons.append(f"rel_index has shape {list(rel_index.shape)}, expected ({n}, {n})")
        if rel_index.is_floating_point() or rel_index.dtype == torch.bool:
            reasons.append(f"rel_index dtype {rel_index.dtype} is not an integer type")
        if region_ids is not None:
            if region_ids.dim() != 2 or region_ids.shape[1] != n:
                reasons.append(f"region_ids has shape {list(region_ids.shape)}, expected (nW, {n})")
            elif bw % region_ids.shape[0]:
                reasons.append(f"{bw} windows is not a multiple of nW={region_ids.shape[0]}")
            if region_ids.is_floating_point():
                reasons.append(f"region_ids dtype {region_ids.dtype} is not an integer type")
        others = [t for t in (rpb_table, rel_index, region_ids) if t is not None]
        if any(t.device != q.device for t in others):
            reasons.append("rpb_table, rel_index or region_ids is on another device than q")
        return reasons

    def supports_attention(
        self,
        q: Tensor,
        k: Tensor | None = None,
        v: Tensor | None = None,
        bias: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        **kwargs,
    ) -> list[str]:
        """Reasons the attention kernel cannot run these inputs (empty: it can)."""
        reasons = _common_reasons(q, k, v)
        if reasons and any("dims, expected 4" in r or "required" in r for r in reasons):
            return reasons
        b, h, lq, _ = q.shape
        lk = k.shape[2]
        if k.shape[:2] != (b, h) or v.shape != k.shape:
            reasons.append(
                f"k, v shapes {list(k.shape)}, {list(v.shape)} do not match q {list(q.shape)}"
            )
        if bias is not None:
            if bias.dim() > 4:
                reasons.append(f"bias has {bias.dim()} dims, expected at most 4")
            elif not _broadcastable(tuple(bias.shape), (b, h, lq, lk)):
                reasons.append(
                    f"bias shape {list(bias.shape)} does not broadcast to {[b, h, lq, lk]}"
                )
            if not bias.is_floating_point():
                reasons.append(f"bias dtype {bias.dtype} is not floating point")
            if bias.device != q.device:
                reasons.append("bias is on another device than q")
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (b, lk):
                reasons.append(
                    f"key_padding_mask has shape {list(key_padding_mask.shape)}, "
                    f"expected ({b}, {lk})"
                )
            if key_padding_mask.dtype != torch.bool:
                reasons.append(f"key_padding_mask dtype {key_padding_mask.dtype} is not bool")
            if key_padding_mask.device != q.device:
                reasons.append("key_padding_mask is on another device than q")
        return reasons

    def window_attention(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        rpb_table: Tensor,
        rel_index: Tensor,
        region_ids: Tensor | None,
        scale: float | None,
    ) -> Tensor:
        """Run ``hybridnets::window_attention``."""
        scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
        return custom_ops.window_attention_op(q, k, v, rpb_table, rel_index, region_ids, scale)

    def attention(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        bias: Tensor | None,
        key_padding_mask: Tensor | None,
        scale: float | None,
    ) -> Tensor:
        """Run ``hybridnets::attention``."""
        scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
        return custom_ops.attention_op(q, k, v, bias, key_padding_mask, scale)


def _broadcastable(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when ``shape`` broadcasts to ``target`` without changing ``target``."""
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))
