"""Kernel tests run natively on CUDA, else on CPU under Triton's interpreter.

The interpreter (``TRITON_INTERPRET=1``) is switched on only while a kernel test runs, so the
rest of the suite keeps dispatching to SDPA on CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor


def _max_err(a: Tensor, b: Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


@pytest.fixture
def assert_matches() -> Callable[..., None]:
    """Compare a kernel result with the reference.

    fp32: direct tolerance against the fp64 reference. fp16/bf16: the kernel's error against the
    fp64 reference is at most twice the reference's own error in the low dtype, plus a floor
    relative to the magnitude (FlashAttention's rule).
    """

    def check(name: str, out: Tensor, ref_low: Tensor, ref_hi: Tensor, dtype: torch.dtype) -> None:
        """``dtype`` is the precision the kernel computed in (that of q, k, v)."""
        assert out.shape == ref_hi.shape, f"{name}: shape {out.shape} != {ref_hi.shape}"
        assert torch.isfinite(out).all(), f"{name}: non-finite values"
        magnitude = max(1.0, ref_hi.abs().max().item())
        err = _max_err(out, ref_hi)
        if dtype == torch.float32:
            limit = 2e-4 * magnitude
        else:
            limit = 2 * _max_err(ref_low, ref_hi) + 2 * torch.finfo(dtype).eps * magnitude
        assert err <= limit, f"{name}: max error {err:.3g} > {limit:.3g} ({dtype})"

    return check
