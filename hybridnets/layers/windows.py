"""Window partitioning and shifted-window region ids for any number of spatial dims.

Liu et al., "Swin Transformer", ICCV 2021. The einops patterns are built once per rank, as in
vit-pytorch's ``vit_nd.py``, so 2D and 3D share every line.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor


def _patterns(ndim: int) -> tuple[str, str]:
    """``("b (g0 w0) (g1 w1) c", "(b g0 g1) (w0 w1) c")`` for ``ndim`` spatial dims."""
    grid = " ".join(f"g{i}" for i in range(ndim))
    win = " ".join(f"w{i}" for i in range(ndim))
    image = "b " + " ".join(f"(g{i} w{i})" for i in range(ndim)) + " c"
    return image, f"(b {grid}) ({win}) c"


def window_partition(x: Tensor, window: tuple[int, ...]) -> Tensor:
    """Split a channels-last map ``(B, *S, C)`` into windows ``(B·nW, N, C)``, N = ∏window.

    Every ``S_i`` must be a multiple of ``window[i]``; windows are ordered batch-major.
    """
    image, windows = _patterns(len(window))
    return rearrange(x, f"{image} -> {windows}", **{f"w{i}": w for i, w in enumerate(window)})


def window_reverse(windows: Tensor, window: tuple[int, ...], size: tuple[int, ...]) -> Tensor:
    """Inverse of :func:`window_partition`: ``(B·nW, N, C)`` → ``(B, *size, C)``."""
    image, wins = _patterns(len(window))
    sizes = {f"w{i}": w for i, w in enumerate(window)}
    sizes |= {f"g{i}": s // w for i, (s, w) in enumerate(zip(size, window))}
    return rearrange(windows, f"{wins} -> {image}", **sizes)


def shift_region_ids(
    padded: tuple[int, ...],
    window: tuple[int, ...],
    shift: tuple[int, ...],
    valid: tuple[int, ...],
    device: torch.device | None = None,
) -> Tensor:
    """Region id per token of each window, ``(nW, N)`` int32, for a padded and rolled map.

    Tokens attend to each other only within a region: after the cyclic shift by ``-shift`` the
    three slices ``[0, S−w)``, ``[S−w, S−shift)``, ``[S−shift, S)`` of each dim are separate
    regions (Swin's shifted-window mask); padded positions (``>= valid`` before the roll) get
    id −1 so real tokens never attend to them.

    Args:
        padded: Padded spatial size (multiples of ``window``).
        window: Window size per dim.
        shift: Cyclic shift per dim (0 = none).
        valid: Unpadded spatial size.
        device: Where to build the ids.
    """
    ids = torch.zeros(padded, dtype=torch.int32, device=device)
    is_pad = torch.zeros(padded, dtype=torch.bool, device=device)
    for dim, (size, w, s, n) in enumerate(zip(padded, window, shift, valid)):
        view = [1] * len(padded)
        view[dim] = size
        c = torch.arange(size, device=device)
        region = (c >= size - w).int() + (c >= size - s).int() if s > 0 else torch.zeros_like(c)
        ids = ids * 3 + region.int().view(view)  # (*S) region code over dims so far
        source = c + s  # where each rolled position comes from: (c + s) mod size, no remainder op
        source = torch.where(source >= size, source - size, source)  # (which ONNX can't size)
        is_pad = is_pad | (source >= n).view(view)  # padding in the rolled frame
    ids = ids.masked_fill(is_pad, -1)
    return window_partition(ids[None, ..., None], window)[..., 0]  # (nW, N)
