"""Triton backend adapter: routes to the fused kernels in ``hybridnets.kernels``.

The kernels run as the torch custom ops ``hybridnets::window_attention`` and
``hybridnets::attention`` (see :mod:`hybridnets.ops.custom_ops`). Triton is imported only when a
kernel first runs, so ``import hybridnets`` works where Triton is not installed; the backend then
refuses, saying why, and dispatch falls back to SDPA. On a GPU the first use per dtype and
head-dim class runs a parity check (:mod:`hybridnets.ops.selfcheck`).
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass

import torch
from torch import Tensor

from hybridnets.ops.custom_ops import attention_triton, window_attention_triton
from hybridnets.ops.request import (
    AttentionRequest,
    Reason,
    ReasonCode,
    Request,
    WindowAttentionRequest,
)
from hybridnets.ops.selfcheck import self_check_failure

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


INTERPRETER_HINT = (
    "set it in the environment before Python starts (Triton reads it when it is imported, so "
    "setting it in a running process is too late), or run inside "
    "hybridnets.kernels.interpret.cpu_interpreter()"
)


@torch.compiler.assume_constant_result
def _late_interpreter() -> bool:
    """True when ``TRITON_INTERPRET`` is set but Triton's library (or the kernels) were defined
    before it was: they are compiled, not interpreted, and fail on CPU tensors."""
    from triton.runtime.jit import JITFunction

    triton_language = importlib.import_module("triton.language")
    flash = sys.modules.get("hybridnets.kernels._flash")  # the kernels' shared helpers
    compiled = [triton_language.sum, flash._load_rows if flash else None]
    return any(isinstance(f, JITFunction) for f in compiled)


@dataclass(frozen=True)
class TritonBackend:
    """Fused Triton kernels: bias and masks read inside the kernel, never materialised.

    Runs on CUDA, or on CPU under ``TRITON_INTERPRET=1`` (for tests); fp16, bf16 and fp32
    (fp32 uses TF32 only when ``torch.backends.cuda.matmul.allow_tf32`` is set), head dims up to
    128, any sequence length. Not while ``torch.onnx.export`` runs: ONNX has no form for the
    custom ops (``torch.export`` keeps them).
    """

    name: str = "triton"

    def not_supported_reasons(self, request: Request) -> list[Reason]:
        """Every reason the kernels cannot run ``request`` (empty: they can)."""
        reasons = _common_reasons(request.q, request.k, request.v)
        if torch.onnx.is_in_onnx_export():  # auto then exports SDPA, on a GPU too
            message = "ONNX export: the fused kernels are custom ops with no ONNX form"
            reasons.append(Reason(ReasonCode.ONNX_EXPORT, message))
        if any(r.code is ReasonCode.RANK for r in reasons):
            return reasons  # the checks below unpack 4D shapes
        if isinstance(request, AttentionRequest):
            reasons += _attention_reasons(request)
        else:
            reasons += _window_reasons(request)
        if not reasons:
            q = request.q
            failure = self_check_failure(q.device, q.dtype, int(q.shape[-1]))
            if failure:
                reasons.append(Reason(ReasonCode.SELF_CHECK_FAILED, f"self-check: {failure}"))
        return reasons

    def run(self, request: Request) -> Tensor:
        """Run ``hybridnets::window_attention`` or ``hybridnets::attention``."""
        kernels = {"window_attention": window_attention_triton, "attention": attention_triton}
        return kernels[request.op](*request.args())


def _common_reasons(q: Tensor, k: Tensor, v: Tensor) -> list[Reason]:
    """Reasons shared by both ops: Triton, device, dtype, rank and head dim of q, k, v."""
    reasons = []
    error = _triton_import_error()
    if error:
        reasons.append(Reason(ReasonCode.TRITON_UNAVAILABLE, error))
    tensors = {"q": q, "k": k, "v": v}
    for name, t in tensors.items():
        if t.dim() != 4:
            reasons.append(Reason(ReasonCode.RANK, f"{name} has {t.dim()} dims, expected 4"))
    if reasons:
        return reasons
    devices = {t.device for t in tensors.values()}
    if len(devices) > 1:
        message = f"q, k, v are on different devices ({', '.join(map(str, devices))})"
        reasons.append(Reason(ReasonCode.DEVICE_MISMATCH, message))
    if q.device.type != "cuda" and not _interpreting():
        message = (
            f"tensors are on {q.device.type}; the kernels need CUDA or TRITON_INTERPRET=1 "
            f"(Triton's CPU interpreter): {INTERPRETER_HINT}"
        )
        reasons.append(Reason(ReasonCode.DEVICE, message))
    elif q.device.type != "cuda" and not error and _late_interpreter():
        message = (
            f"tensors are on {q.device.type} and TRITON_INTERPRET=1 was set only after Triton "
            f"was imported, so its CPU interpreter cannot run the kernels: {INTERPRETER_HINT}"
        )
        reasons.append(Reason(ReasonCode.DEVICE, message))
    reasons += _dtype_reasons(q, k, v)
    d = q.shape[-1]
    if not 1 <= d <= MAX_HEAD_DIM:
        message = f"head_dim {d} is outside 1..{MAX_HEAD_DIM}"
        reasons.append(Reason(ReasonCode.HEAD_DIM, message))
    if k.shape[-1] != d or v.shape[-1] != d:
        message = f"head dims differ (q {d}, k {k.shape[-1]}, v {v.shape[-1]})"
        reasons.append(Reason(ReasonCode.HEAD_DIM_MISMATCH, message))
    if 0 in q.shape or 0 in k.shape:
        reasons.append(Reason(ReasonCode.EMPTY, "empty input"))
    return reasons


def _dtype_reasons(q: Tensor, k: Tensor, v: Tensor) -> list[Reason]:
    if q.dtype not in DTYPES:
        message = f"dtype {q.dtype} is not one of float16, bfloat16, float32"
        return [Reason(ReasonCode.DTYPE, message)]
    if k.dtype != q.dtype or v.dtype != q.dtype:
        message = f"q, k, v dtypes differ ({q.dtype}, {k.dtype}, {v.dtype})"
        return [Reason(ReasonCode.DTYPE_MISMATCH, message)]
    if q.dtype == torch.bfloat16 and q.device.type == "cpu":
        message = "Triton's CPU interpreter miscomputes bfloat16 matmuls"
        return [Reason(ReasonCode.DTYPE_ON_DEVICE, message)]
    if (
        q.dtype == torch.bfloat16
        and q.device.type == "cuda"
        and torch.cuda.get_device_capability(q.device) < (8, 0)
    ):
        message = "bfloat16 needs a GPU of compute capability 8.0 or newer"
        return [Reason(ReasonCode.DTYPE_ON_DEVICE, message)]
    return []


def _window_reasons(request: WindowAttentionRequest) -> list[Reason]:
    """Shapes, dtypes and devices of the window op's inputs (q, k, v are 4D)."""
    q, k, v = request.q, request.k, request.v
    table, index, regions = request.rpb_table, request.rel_index, request.region_ids
    bw, h, n, _ = q.shape
    reasons = []
    if k.shape != q.shape or v.shape != q.shape:
        message = f"q, k, v shapes differ ({list(q.shape)}, {list(k.shape)}, {list(v.shape)})"
        reasons.append(Reason(ReasonCode.SHAPE_MISMATCH, message))
    if table.dim() != 2 or table.shape[0] != h:
        message = f"rpb_table has shape {list(table.shape)}, expected ({h}, T)"
        reasons.append(Reason(ReasonCode.RPB_TABLE, message))
    elif not table.is_floating_point():
        message = f"rpb_table dtype {table.dtype} is not floating point"
        reasons.append(Reason(ReasonCode.RPB_TABLE, message))
    if tuple(index.shape) != (n, n):
        message = f"rel_index has shape {list(index.shape)}, expected ({n}, {n})"
        reasons.append(Reason(ReasonCode.REL_INDEX, message))
    if index.is_floating_point() or index.dtype == torch.bool:
        message = f"rel_index dtype {index.dtype} is not an integer type"
        reasons.append(Reason(ReasonCode.REL_INDEX, message))
    if regions is not None:
        if regions.dim() != 2 or regions.shape[1] != n:
            message = f"region_ids has shape {list(regions.shape)}, expected (nW, {n})"
            reasons.append(Reason(ReasonCode.REGION_IDS, message))
        elif bw % regions.shape[0]:
            message = f"{bw} windows is not a multiple of nW={regions.shape[0]}"
            reasons.append(Reason(ReasonCode.REGION_IDS, message))
        if regions.is_floating_point():
            message = f"region_ids dtype {regions.dtype} is not an integer type"
            reasons.append(Reason(ReasonCode.REGION_IDS, message))
    others = [t for t in (table, index, regions) if t is not None]
    if any(t.device != q.device for t in others):
        message = "rpb_table, rel_index or region_ids is on another device than q"
        reasons.append(Reason(ReasonCode.DEVICE_MISMATCH, message))
    return reasons


def _attention_reasons(request: AttentionRequest) -> list[Reason]:
    """Shapes, dtypes and devices of the attention op's inputs (q, k, v are 4D)."""
    q, k, v = request.q, request.k, request.v
    bias, pad = request.bias, request.key_padding_mask
    b, h, lq, _ = q.shape
    lk = k.shape[2]
    reasons = []
    if k.shape[:2] != (b, h) or v.shape != k.shape:
        message = f"k, v shapes {list(k.shape)}, {list(v.shape)} do not match q {list(q.shape)}"
        reasons.append(Reason(ReasonCode.SHAPE_MISMATCH, message))
    if bias is not None:
        if bias.dim() > 4:
            message = f"bias has {bias.dim()} dims, expected at most 4"
            reasons.append(Reason(ReasonCode.BIAS, message))
        elif not _broadcastable(tuple(bias.shape), (b, h, lq, lk)):
            message = f"bias shape {list(bias.shape)} does not broadcast to {[b, h, lq, lk]}"
            reasons.append(Reason(ReasonCode.BIAS, message))
        if not bias.is_floating_point():
            message = f"bias dtype {bias.dtype} is not floating point"
            reasons.append(Reason(ReasonCode.BIAS, message))
        if bias.device != q.device:
            message = "bias is on another device than q"
            reasons.append(Reason(ReasonCode.DEVICE_MISMATCH, message))
    if pad is not None:
        if tuple(pad.shape) != (b, lk):
            message = f"key_padding_mask has shape {list(pad.shape)}, expected ({b}, {lk})"
            reasons.append(Reason(ReasonCode.KEY_PADDING_MASK, message))
        if pad.dtype != torch.bool:
            message = f"key_padding_mask dtype {pad.dtype} is not bool"
            reasons.append(Reason(ReasonCode.KEY_PADDING_MASK, message))
        if pad.device != q.device:
            message = "key_padding_mask is on another device than q"
            reasons.append(Reason(ReasonCode.DEVICE_MISMATCH, message))
    return reasons


def _broadcastable(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when ``shape`` broadcasts to ``target`` without changing ``target``."""
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))
