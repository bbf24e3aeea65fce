"""First-use parity check of the Triton kernels on a GPU.

The first time the Triton backend would run on a CUDA device for a dtype and head-dim class
(the power of two the kernels pad the head dim to: 16, 32, 64 or 128), both kernels run forward
and backward on tiny random inputs and are compared with the reference computed in fp64. If
they disagree, or fail to compile or run, the backend refuses that (device, dtype, class) with
:attr:`ReasonCode.SELF_CHECK_FAILED`, one warning line is logged, and ``auto`` dispatch uses the
next backend (SDPA). The check costs a few kernel launches once per class; set
``HYBRIDNETS_TRITON_SELFCHECK=0`` to skip it.

    failure = self_check_failure(q.device, q.dtype, q.shape[-1])  # None: the kernels agree
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import torch
from torch import Tensor

from hybridnets.ops.custom_ops import attention_triton, window_attention_triton
from hybridnets.ops.reference import attention_reference, window_attention_reference

logger = logging.getLogger(__name__)

ENV_VAR = "HYBRIDNETS_TRITON_SELFCHECK"
# Largest error accepted on top of twice the reference's own error in the dtype, relative to the
# magnitude of the result: loose enough for TF32 and bf16 rounding, tight enough to catch a
# miscompiled kernel (whose errors are of the order of the values).
FLOOR = {torch.float32: 1e-2, torch.float16: 1e-2, torch.bfloat16: 3e-2}

_results: dict[tuple[str, int, torch.dtype, int], str | None] = {}
_lock = threading.Lock()


def head_dim_class(head_dim: int) -> int:
    """The power of two (at least 16) the kernels pad ``head_dim`` to."""
    return max(16, 1 << (head_dim - 1).bit_length())


def enabled() -> bool:
    """False when ``HYBRIDNETS_TRITON_SELFCHECK=0``."""
    return os.environ.get(ENV_VAR, "1").strip() != "0"


def _on_gpu(device: torch.device) -> bool:
    """Whether the check applies: the kernels run compiled on this device."""
    return device.type == "cuda"


@torch.compiler.assume_constant_result
def self_check_failure(device: torch.device, dtype: torch.dtype, head_dim: int) -> str | None:
    """Why the kernels failed their parity check on ``device`` (None: they passed, or no check).

    Runs the check the first time a (device, dtype, head-dim class) is seen and remembers the
    result for the process; logs one warning line when it fails.
    """
    if not _on_gpu(device) or not enabled():
        return None
    index = device.index
    if index is None:
        index = torch.cuda.current_device() if device.type == "cuda" else 0
    key = (device.type, index, dtype, head_dim_class(head_dim))
    with _lock:
        if key not in _results:
            target = torch.device(device.type, index)
            _results[key] = _run_check(target, dtype, key[3])
            if _results[key]:
                logger.warning(
                    "Triton self-check failed on %s for %s, head_dim class %d (%s); using the "
                    "next attention backend (set %s=0 to skip the check)",
                    target,
                    dtype,
                    key[3],
                    _results[key],
                    ENV_VAR,
                )
    return _results[key]


def _run_check(device: torch.device, dtype: torch.dtype, head_dim: int) -> str | None:
    """Both kernels, forward and backward, against the reference; the first mismatch or error.

    Runs with autograd on and autocast off, whatever the caller's context.
    """
    try:
        with (
            torch.inference_mode(False),
            torch.enable_grad(),
            torch.autocast(device.type, enabled=False),
        ):
            return _check_both_ops(device, dtype, head_dim)
    except Exception as exc:  # a kernel that does not compile or run fails the check too
        return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:200]


def _check_both_ops(device: torch.device, dtype: torch.dtype, head_dim: int) -> str | None:
    gen = torch.Generator().manual_seed(0)

    def randn(*shape: int) -> Tensor:
        return torch.randn(shape, generator=gen).to(device)

    n, lq, lk, table_size = 20, 70, 40, 13  # one window tile; two query tiles for attention
    window_inputs = {
        "q": randn(2, 2, n, head_dim),
        "k": randn(2, 2, n, head_dim),
        "v": randn(2, 2, n, head_dim),
        "rpb_table": randn(2, table_size),
        "rel_index": torch.randint(0, table_size, (n, n), generator=gen).to(device),
        "region_ids": (torch.arange(n) >= n // 3).int().repeat(2, 1).to(device),
    }
    pad = torch.zeros(2, lk, dtype=torch.bool)
    pad[1, lk // 2 :] = True
    attention_inputs = {
        "q": randn(2, 2, lq, head_dim),
        "k": randn(2, 2, lk, head_dim),
        "v": randn(2, 2, lk, head_dim),
        "bias": randn(2, lq, lk),  # broadcast over the batch: the atomic bias-gradient path
        "key_padding_mask": pad.to(device),
    }
    checks = (
        ("window_attention", window_attention_triton, window_attention_reference, window_inputs),
        ("attention", attention_triton, attention_reference, attention_inputs),
    )
    for name, kernel, reference, inputs in checks:
        grad = randn(*inputs["q"].shape)
        failure = _compare(name, kernel, reference, inputs, dtype, grad)
        if failure:
            return failure
    return None


def _compare(
    name: str,
    kernel: Callable[..., Tensor],
    reference: Callable[..., Tensor],
    inputs: dict[str, Tensor],
    dtype: torch.dtype,
    grad: Tensor,
) -> str | None:
    """The first output or gradient of ``kernel`` in ``dtype`` whose error against the fp64
    reference exceeds twice the reference's own error in ``dtype`` plus :data:`FLOOR`."""
    got = _output_and_grads(kernel, inputs, dtype, grad)
    low = _output_and_grads(reference, inputs, dtype, grad)
    want = _output_and_grads(reference, inputs, torch.float64, grad)
    labels = ["out", *(key for key, t in inputs.items() if t.is_floating_point())]
    for label, g, lo, w in zip(labels, got, low, want):
        limit = 2 * _max_err(lo, w) + FLOOR[dtype] * max(1.0, w.abs().max().item())
        err = _max_err(g, w)
        if not err <= limit:  # also catches NaN
            return f"{name} {label}: max error {err:.3g} > {limit:.3g}"
    return None


def _output_and_grads(
    fn: Callable[..., Tensor], inputs: dict[str, Tensor], dtype: torch.dtype, grad: Tensor
) -> list[Tensor]:
    """``fn``'s output and the gradients of its floating-point inputs, computed in ``dtype``."""
    args = {
        key: t.to(dtype).requires_grad_() if t.is_floating_point() else t
        for key, t in inputs.items()
    }
    out = fn(**args)
    wrt = [t for t in args.values() if t.requires_grad]
    return [out, *torch.autograd.grad(out, wrt, grad.to(dtype))]


def _max_err(a: Tensor, b: Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()
