"""The one place that maps ``spatial_dims`` to PyTorch's 2D/3D conv classes, plus input checks
and the channels-first ↔ channels-last moves every block uses."""

from __future__ import annotations

from enum import Enum

from torch import Tensor, nn

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CHANNELS_FIRST = {1: ("NCL", "NCHW"), 2: ("NCHW",), 3: ("NCDHW", "NCHW")}
_CHANNELS_LAST = {1: ("NLC", "NHWC"), 2: ("NHWC",), 3: ("NDHWC", "NHWC")}


def check_spatial_dims(spatial_dims: int) -> int:
    """Validate ``spatial_dims`` (2 or 3; 1 is allowed for sequences) and return it."""
    if spatial_dims not in _CONV:
        raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims!r}")
    return spatial_dims


def conv_nd(spatial_dims: int, *args, **kwargs) -> nn.Module:
    """``nn.Conv{spatial_dims}d(*args, **kwargs)``: ``conv_nd(3, 32, 64, kernel_size=3)``."""
    return _CONV[check_spatial_dims(spatial_dims)](*args, **kwargs)


def channels_last(x: Tensor) -> Tensor:
    """``(B, C, *S)`` → ``(B, *S, C)`` (a view), for any rank.

    ``channels_last`` and :func:`channels_first` name only non-negative dims: the TorchScript ONNX
    exporter (``torch.onnx.export(dynamo=False)``) writes ``movedim(-1, 1)`` as an invalid
    ``Transpose(perm=[0, -1, 1, 2])``.
    """
    return x.movedim(1, x.ndim - 1)


def channels_first(x: Tensor) -> Tensor:
    """``(B, *S, C)`` → ``(B, C, *S)`` (a view), for any rank."""
    return x.movedim(x.ndim - 1, 1)


def is_channels_last(output_fmt: str, spatial_dims: int) -> bool:
    """Whether ``output_fmt`` asks for channels-last maps: ``"NHWC"`` / ``"NDHWC"`` yes,
    ``"NCHW"`` / ``"NCDHW"`` no. timm passes ``"NCHW"`` / ``"NHWC"`` for any rank, so 3D accepts
    those too; other formats raise ``ValueError``."""
    fmt = output_fmt.value if isinstance(output_fmt, Enum) else output_fmt  # timm's Format
    if fmt in _CHANNELS_LAST[spatial_dims]:
        return True
    if fmt in _CHANNELS_FIRST[spatial_dims]:
        return False
    allowed = _CHANNELS_FIRST[spatial_dims] + _CHANNELS_LAST[spatial_dims]
    raise ValueError(
        f"output_fmt must be one of {allowed} for spatial_dims={spatial_dims}, got {fmt!r}"
    )


def to_tuple(
    value: int | tuple[int, ...], spatial_dims: int, name: str = "value"
) -> tuple[int, ...]:
    """Broadcast an int to a ``spatial_dims``-tuple; check a tuple's length."""
    if isinstance(value, int):
        return (value,) * spatial_dims
    value = tuple(int(v) for v in value)
    if len(value) != spatial_dims:
        raise ValueError(
            f"{name} needs {spatial_dims} entries for spatial_dims={spatial_dims}, got {value}"
        )
    return value


def check_input(
    x: Tensor,
    spatial_dims: int,
    in_chans: int | None = None,
    min_size: int | tuple[int, ...] | None = None,
    name: str = "input",
) -> None:
    """Raise ``ValueError`` naming expected vs got for a wrong rank, channel count or a too small size.

    Args:
        x: Channels-first tensor ``(B, C, *S)``.
        spatial_dims: Expected number of spatial dims.
        in_chans: Expected channel count, if fixed.
        min_size: Smallest accepted spatial size (int or per-dim tuple).
        name: What ``x`` is, for the message.
    """
    if x.ndim != spatial_dims + 2:
        layout = "(B, C, H, W)" if spatial_dims == 2 else "(B, C, D, H, W)"
        hint = (
            f"; this model was built with spatial_dims={spatial_dims}, create it with "
            f"spatial_dims={x.ndim - 2} for {x.ndim - 2}D inputs"
            if x.ndim - 2 in (2, 3)
            else ""
        )
        raise ValueError(
            f"{name} must have rank {spatial_dims + 2} {layout} for spatial_dims={spatial_dims}, "
            f"got shape {tuple(x.shape)}{hint}"
        )
    if in_chans is not None and x.shape[1] != in_chans:
        raise ValueError(
            f"{name} has {x.shape[1]} channels but the model expects in_chans={in_chans} "
            f"(shape {tuple(x.shape)}); create the model with in_chans={x.shape[1]}"
        )
    if min_size is not None:
        need = to_tuple(min_size, spatial_dims, "min_size")
        got = tuple(x.shape[2:])
        if any(g < n for g, n in zip(got, need)):
            raise ValueError(
                f"{name} spatial size {got} is smaller than this network's minimum {need} "
                f"(its total stride); resize or pad the input, or use a smaller stem_stride"
            )
