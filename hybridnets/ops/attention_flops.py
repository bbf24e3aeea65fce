"""FLOPs of one attention call, forward and backward: the one convention hybridnets uses.

Forward: ``q·kᵀ`` and ``p·v``, two matmuls, ``2·B·H·Lq·Lk·(D + Dv)`` FLOPs (a multiply-add is
two FLOPs). Backward: **five** matmuls, ``2·B·H·Lq·Lk·(3·D + 2·Dv)`` FLOPs, i.e. 2.5× the forward
when ``Dv = D``:

1. ``s = q·kᵀ`` recomputed (a fused backward keeps only the log-sum-exp, not the probabilities),
2. ``dP = dO·vᵀ``,  3. ``dV = pᵀ·dO``,  4. ``dQ = dS·k``,  5. ``dK = dSᵀ·q``.

Why five rather than four: it is the work the fused kernels do (the Triton backward, like
FlashAttention's, recomputes ``q·kᵀ``), and it is what PyTorch's own formula counts for the
flash, memory-efficient and cuDNN SDPA backwards (``torch.utils.flop_counter``), so
``FlopCounterMode`` gives the same backward count whichever fused backend runs. (The reference
backend's plain autograd keeps the probabilities and does four; its matmuls are counted as they
run. The Triton backward over several tiles also recomputes ``q·kᵀ`` and ``dP`` a second time for
``dQ``; that is implementation overhead, not counted, as FlashAttention does not count it.)

    attention_flops((B, H, Lq, D), (B, H, Lk, D))            # forward
    attention_flops((B, H, Lq, D), (B, H, Lk, D), backward=True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

FORWARD_MATMULS = 2
BACKWARD_MATMULS = 5


def attention_flops(
    q_shape: Sequence[int],
    k_shape: Sequence[int],
    v_shape: Sequence[int] | None = None,
    backward: bool = False,
) -> int:
    """FLOPs of ``softmax(q·kᵀ)·v`` (forward) or of its backward.

    Args:
        q_shape: Query shape ``(..., Lq, D)``; every leading dim (batch, windows, heads) counts.
        k_shape: Key shape ``(..., Lk, D)``.
        v_shape: Value shape ``(..., Lk, Dv)``; the key shape if None.
        backward: Count the backward (five matmuls) instead of the forward (two).
    """
    *batch, lq, d = q_shape
    lk = k_shape[-2]
    dv = d if v_shape is None else v_shape[-1]
    per_entry = 3 * d + 2 * dv if backward else d + dv  # multiply-adds per (query, key) pair
    return 2 * math.prod(batch) * lq * lk * per_entry
