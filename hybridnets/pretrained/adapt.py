"""Fit a checkpoint to a model that differs from it: channels, head, 2D→3D, window size.

    state_dict, adapted = adapt_state_dict(checkpoint, model, inflate="center")

Each adaptation is exact where an exact answer exists:

* input channels RGB → 1 sums the first convolution's kernels, so a grey image gives the RGB
  model's output on that image repeated three times; → N repeats and rescales by 3/N;
* 2D → 3D inflation puts the 2D kernel in the centre depth slice (``"center"``) or spreads it
  evenly over depth (``"mean"``, I3D); relative-position tables are replicated along the new
  depth axis, so a volume made of one image repeated along depth reproduces the 2D model;
* a new window size resamples the ``(2w-1)^d`` relative-position grid (bicubic in 2D,
  trilinear in 3D);
* a classifier of a different width is left at the model's fresh initialisation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

InflateMode = Literal["center", "mean"]

RPB_SUFFIX = "relative_position_bias_table"
# Buffers rebuilt from the layout (non-persistent in hybridnets and timm); older checkpoints,
# timm's Swin among them, may still carry them.
DERIVED_SUFFIXES = ("relative_position_index", "attn_mask")


def adapt_input_channels(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """Adapt a first-conv weight ``(O, I, *k)`` to ``in_chans`` inputs.

    One channel sums the kernels over ``I``; otherwise the kernels are tiled to ``in_chans``
    and scaled by ``I / in_chans`` so the response to an input repeated over channels is kept.
    """
    if in_chans < 1:
        raise ValueError(f"in_chans must be positive, got {in_chans}")
    source = weight.shape[1]
    if in_chans == source:
        return weight
    w = weight.float()
    if in_chans == 1:
        w = w.sum(dim=1, keepdim=True)
    else:
        repeat = math.ceil(in_chans / source)
        w = w.repeat(1, repeat, *(1,) * (w.ndim - 2))[:, :in_chans] * (source / in_chans)
    return w.to(weight.dtype)


def inflate_conv(weight: torch.Tensor, depth: int, mode: InflateMode = "center") -> torch.Tensor:
    """Add a leading kernel axis of size ``depth``: ``(O, I, *k)`` → ``(O, I, depth, *k)``.

    ``"center"`` puts the kernel in slice ``depth // 2`` and zeros elsewhere (exact on inputs
    that are constant along depth, at any padding); ``"mean"`` repeats it divided by ``depth``
    (I3D; exact on constant inputs away from zero padding).
    """
    if mode == "center":
        out = weight.new_zeros((*weight.shape[:2], depth, *weight.shape[2:]))
        out[:, :, depth // 2] = weight
        return out
    if mode == "mean":
        return weight.unsqueeze(2).repeat(1, 1, depth, *(1,) * (weight.ndim - 2)) / depth
    raise ValueError(f"inflate must be 'center' or 'mean', got {mode!r}")


def rel_pos_grid(table_len: int, spatial_dims: int) -> tuple[int, ...] | None:
    """The isotropic ``(2w-1,)*d`` grid of a relative-position table, or None if not one."""
    side = round(table_len ** (1 / spatial_dims))
    return (side,) * spatial_dims if side**spatial_dims == table_len and side % 2 == 1 else None


def resample_rel_pos_table(
    table: torch.Tensor, src_grid: Sequence[int], dst_grid: Sequence[int]
) -> torch.Tensor:
    """Interpolate a ``(prod(src_grid), heads)`` table onto ``dst_grid`` (same rank)."""
    if tuple(src_grid) == tuple(dst_grid):
        return table
    heads = table.shape[1]
    mode = {1: "linear", 2: "bicubic", 3: "trilinear"}[len(src_grid)]
    grid = table.float().T.reshape(1, heads, *src_grid)  # (1, heads, *src_grid)
    grid = F.interpolate(grid, size=tuple(dst_grid), mode=mode, align_corners=False)
    return grid.reshape(heads, -1).T.contiguous().to(table.dtype)  # (prod(dst_grid), heads)


def inflate_rel_pos_table(table: torch.Tensor, depth: int) -> torch.Tensor:
    """Replicate a ``(T, heads)`` table along a new leading grid axis: ``(depth·T, heads)``.

    Every depth offset sees the 2D bias, so tokens repeated along depth share one bias row and
    attention over a depth-constant volume equals the 2D attention.
    """
    return table.unsqueeze(0).expand(depth, *table.shape).reshape(depth * table.shape[0], -1)


def adapt_rel_pos_table(
    table: torch.Tensor, src_grid: Sequence[int], dst_grid: Sequence[int]
) -> torch.Tensor:
    """Resample the trailing axes of ``src_grid`` to ``dst_grid``'s, then inflate new axes."""
    extra = len(dst_grid) - len(src_grid)
    if extra < 0:
        raise ValueError(f"cannot reduce a {len(src_grid)}D table to {len(dst_grid)}D")
    table = resample_rel_pos_table(table, src_grid, dst_grid[extra:])
    for depth in reversed(dst_grid[:extra]):
        table = inflate_rel_pos_table(table, depth)
    return table


def _module_grid(model: nn.Module, key: str, table_len: int, dims: int) -> tuple[int, ...] | None:
    """Grid of the model's table at ``key``: from its module's ``window_size`` if it fits."""
    owner = model.get_submodule(key.rsplit(".", 1)[0]) if "." in key else model
    window = getattr(owner, "window_size", None)
    if window is not None:
        window = (window,) * dims if isinstance(window, int) else tuple(window)
        grid = tuple(2 * w - 1 for w in window)
        if len(grid) == dims and math.prod(grid) == table_len:
            return grid
    return rel_pos_grid(table_len, dims)


def _keys_under(prefixes: str | Sequence[str] | None, keys: Sequence[str]) -> set[str]:
    if not prefixes:
        return set()
    prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    return {k for k in keys if any(k.startswith(p + ".") for p in prefixes)}


def adapt_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    model: nn.Module,
    inflate: InflateMode = "center",
    src_spatial_dims: int | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Adapt checkpoint tensors whose shapes differ from ``model``'s.

    Uses ``model.pretrained_cfg["first_conv"]`` / ``["classifier"]`` (timm convention) to find
    the first convolution and the head, and ``model.spatial_dims`` for the target rank.

    Args:
        state_dict: Checkpoint tensors.
        model: Target model.
        inflate: 2D → 3D kernel inflation, ``"center"`` or ``"mean"``.
        src_spatial_dims: Rank of the checkpoint; inferred from the first conv when None.

    Returns:
        The adapted state dict (tensors that still mismatch are passed through unchanged,
        head tensors of another width are dropped) and ``{key: what was done}``; the model's
        classifier keys a headless checkpoint lacks count as adapted (left at init).
    """
    target = model.state_dict()
    cfg = getattr(model, "pretrained_cfg", None) or {}
    first_conv = cfg.get("first_conv")
    first_key = f"{first_conv}.weight" if isinstance(first_conv, str) else None
    dst_dims = int(getattr(model, "spatial_dims", 2))
    if src_spatial_dims is None:
        src_spatial_dims = dst_dims
        if first_key in state_dict and first_key in target:
            src_spatial_dims = dst_dims - (target[first_key].ndim - state_dict[first_key].ndim)
    head_keys = _keys_under(cfg.get("classifier"), list(state_dict) + list(target))

    out: dict[str, torch.Tensor] = {}
    adapted: dict[str, str] = {}
    for key, value in state_dict.items():
        if key in head_keys and (key not in target or target[key].shape != value.shape):
            adapted[key] = (
                f"classifier re-initialised: checkpoint {tuple(value.shape)}, "
                f"model {tuple(target[key].shape)}"
                if key in target
                else "dropped: the model has no classifier"
            )
            continue
        if key not in target or target[key].shape == value.shape:
            out[key] = value
            continue
        want = target[key].shape
        notes = []
        if key == first_key and value.ndim >= 3 and value.shape[1] != want[1]:
            notes.append(f"input channels {value.shape[1]} → {want[1]}")
            value = adapt_input_channels(value, want[1])
        if value.ndim + 1 == len(want) >= 4 and value.shape[2:] == want[3:]:
            notes.append(f"inflated {value.ndim - 2}D → {len(want) - 2}D ({inflate})")
            value = inflate_conv(value, want[2], inflate)
        elif key.endswith(RPB_SUFFIX) and value.ndim == 2 and value.shape[1] == want[1]:
            src_grid = rel_pos_grid(value.shape[0], src_spatial_dims)
            dst_grid = _module_grid(model, key, want[0], dst_dims)
            if src_grid is not None and dst_grid is not None:
                value = adapt_rel_pos_table(value, src_grid, dst_grid)
                notes.append(f"relative-position table {src_grid} → {dst_grid}")
        if notes and value.shape == want:
            adapted[key] = "; ".join(notes)
        out[key] = value
    for key in head_keys:  # a headless checkpoint (a pretrained encoder) into a classifier
        if key in target and key not in state_dict:
            adapted[key] = "classifier initialised: the checkpoint has none"
    return out, adapted
