"""Shifted-window multi-head self-attention with relative position bias, any ``spatial_dims``.

Liu et al., "Swin Transformer", ICCV 2021 (github.com/microsoft/Swin-Transformer, MIT).
Inputs of any size work: maps smaller than the window clip the window (and drop the shift),
sizes that are not a multiple of the window are padded and the padding is masked out. The
region ids of a size (shift and padding mask) are cached as the non-persistent buffer
``region_ids``, the relative-position index as ``rpb.relative_position_index``.

Under ``torch.export`` with dynamic sizes (and ``torch.jit.trace``) whether a size needs padding
is left to the graph: the map is always padded to the window multiple (a size-0 pad where it is
one) and cropped back, and the region ids are always built, so one exported program serves
sizes that need padding and sizes that do not. Whether a map is smaller than, equal to or larger
than the window (clipped window, no shift, shift) is still decided per graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.fx.experimental.symbolic_shapes import statically_known_true

from hybridnets import ops
from hybridnets.layers.cache import cached_buffer
from hybridnets.layers.dims import to_tuple
from hybridnets.layers.heads_projection import MultiHeadProjections
from hybridnets.layers.rel_pos import RelativePositionBias
from hybridnets.layers.windows import shift_region_ids, window_partition, window_reverse


def _known(condition: bool | torch.SymBool | Tensor) -> bool:
    """True if ``condition`` holds for this input size and any other the graph being built will
    see: a plain bool as it is; a symbolic size's (``torch.export`` with dynamic shapes) only if
    provable without a guard; a traced size's (0-dim tensor under ``torch.jit.trace`` and the
    TorchScript ONNX exporter) never, so the traced graph computes it per input."""
    if isinstance(condition, torch.SymBool):
        return statically_known_true(condition)
    return not isinstance(condition, Tensor) and condition


def _regime(size: int | torch.SymInt | Tensor, window: int) -> int:
    """-1: the map is smaller than the window (one clipped window, no shift); 0: equal (no
    shift); 1: larger (shifted windows)."""
    return int(bool(size > window)) - int(bool(size < window))


def refuse_other_regimes(x: Tensor, window: tuple[int, ...]) -> Tensor:
    """``x`` ``(B, *S, C)`` unchanged, through an op that fails when ``S`` is in another window
    regime (:func:`_regime`, per dim) than the size being exported: for ``torch.onnx.export``,
    whose graph cannot hold the regime's guard. An ONNX Runtime session then refuses such an
    input (an ``index_select`` out of range in this layer) instead of returning logits that
    differ from the model's."""
    size = x.shape[1:-1]  # SymInts (dynamo exporter) or traced 0-dim tensors (TorchScript's)
    expected = torch.tensor([_regime(s, w) for s, w in zip(size, window)], device=x.device)
    sizes = torch.stack(
        [
            s.long() if isinstance(s, Tensor) else torch.scalar_tensor(s, dtype=torch.long)
            for s in size
        ]
    ).to(x.device)
    got = torch.sign(sizes - torch.tensor(window, device=x.device))
    wrong = (got != expected).any().long().view(1)
    return x + x.new_zeros(1).index_select(0, wrong * (2**31 - 1))  # index 0 where right


class WindowAttention(MultiHeadProjections):
    """Window attention on a channels-last map ``(B, *S, C)``.

    Args:
        dim: Channels.
        num_heads: Attention heads.
        spatial_dims: 2 or 3.
        window_size: Window size (int or per-dim tuple).
        shift_size: Cyclic shift (int or per-dim tuple); Swin uses ``window_size // 2`` on every
            other block.
        qkv_bias: Bias in the qkv projection.

    ``WindowAttention(96, 3, spatial_dims=3, window_size=7, shift_size=3)(x)`` with x ``(B, D, H, W, 96)``
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        spatial_dims: int = 2,
        window_size: int | tuple[int, ...] = 7,
        shift_size: int | tuple[int, ...] = 0,
        qkv_bias: bool = True,
    ) -> None:
        super().__init__(dim, num_heads, qkv_bias)
        self.window_size = to_tuple(window_size, spatial_dims, "window_size")
        self.shift_size = to_tuple(shift_size, spatial_dims, "shift_size")
        self.rpb = RelativePositionBias(num_heads, self.window_size)

    def layout(
        self, size: tuple[int, ...]
    ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Window, shift and padded size used for a map of spatial ``size``."""
        window, shift, padded = [], [], []
        for w, sh, s in zip(self.window_size, self.shift_size, size):
            regime = _regime(s, w)
            if regime < 0:  # the map is one clipped window
                w = s
            window.append(w)
            shift.append(sh if regime > 0 else 0)
            padded.append((s + w - 1) // w * w)  # the next multiple, in terms export can simplify
        return tuple(window), tuple(shift), tuple(padded)

    def regions(self, size: tuple[int, ...], device: torch.device) -> Tensor | None:
        """``(nW, N)`` region ids for a map of ``size`` (None: no shift, no padding), cached.

        Region ids are always valid, so where a symbolic size (``torch.export`` with dynamic
        shapes) may or may not need padding they are built rather than guarded on.
        """

        def build() -> Tensor | None:
            window, shift, padded = self.layout(size)
            aligned = [_known(s % w == 0) for s, w in zip(size, window)]
            if not any(shift) and all(aligned):
                return None
            return shift_region_ids(padded, window, shift, size, device)

        return cached_buffer(self, "region_ids", size, build)

    def forward(self, x: Tensor) -> Tensor:
        if torch.onnx.is_in_onnx_export():  # the graph serves this window regime only
            x = refuse_other_regimes(x, self.window_size)
        size = tuple(x.shape[1:-1])
        window, shift, padded = self.layout(size)
        pads = [p for s, pp in zip(reversed(size), reversed(padded)) for p in (0, pp - s)]
        aligned = all(_known(pp == s) for s, pp in zip(size, padded))
        if not aligned:  # under export with dynamic sizes: always, a size-0 pad where aligned
            x = F.pad(x, [0, 0, *pads])  # (B, *S_pad, C)
        spatial = tuple(range(1, x.ndim - 1))
        if any(shift):
            x = torch.roll(x, [-s for s in shift], spatial)
        windows = window_partition(x, window)  # (B·nW, N, C)
        region_ids = self.regions(size, x.device)  # (nW, N) or None

        q, k, v = self.split_heads(windows)  # 3 × (B·nW, H, N, Dh)
        out = ops.window_attention(q, k, v, self.rpb.table(), self.rpb.index(window), region_ids)
        out = self.merge_heads(out)  # (B·nW, N, C)

        x = window_reverse(out, window, padded)  # (B, *S_pad, C)
        if any(shift):
            x = torch.roll(x, shift, spatial)
        if not aligned:  # crop with a negative pad: a new tensor, where a sliced view's strides
            # would make an exported program guard on whether its size needed padding
            x = F.pad(x, [0, 0, *(-p for p in pads)])
        return x  # (B, *S, C)
