"""Shared pieces of the benchmark scripts: model names, input sizes, environment, tables.

A model name is looked up in one place, :func:`resolve_model`: the hybridnets registry first,
then the MONAI aliases below, then timm. So ``convvit_s``, ``swin_unetr`` and ``convnext_tiny``
can sit in one ``--models`` list.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from collections.abc import Callable, Sequence
from typing import Any

import timm
import torch
from torch import nn

import hybridnets

DEFAULT_PEERS_2D = (
    "convnext_tiny",
    "swin_tiny_patch4_window7_224",
    "coatnet_0_rw_224",
    "maxvit_tiny_tf_224",
    "resnet50",
    "vit_small_patch16_224",
)
DEFAULT_PEERS_3D = ("swin_unetr_encoder", "swin_unetr", "unetr", "monai_resnet18")

TEXT_KEYS = frozenset({"model", "source", "mode", "device", "dtype", "error"})
"""Table columns aligned left; the others are numbers, aligned right."""

SEGMENTATION_CLASSES = 14  # BTCV, the setting of the published SwinUNETR / UNETR figures


def _swin_unetr(spatial_dims: int, in_chans: int, size: tuple[int, ...], classes: int | None):
    from monai.networks.nets import SwinUNETR

    classes = SEGMENTATION_CLASSES if classes is None else classes
    return SwinUNETR(in_chans, classes, feature_size=48, spatial_dims=spatial_dims)


def _swin_unetr_encoder(
    spatial_dims: int, in_chans: int, size: tuple[int, ...], classes: int | None
):
    return _swin_unetr(spatial_dims, in_chans, size, classes).swinViT


def _unetr(spatial_dims: int, in_chans: int, size: tuple[int, ...], classes: int | None):
    from monai.networks.nets import UNETR

    classes = SEGMENTATION_CLASSES if classes is None else classes
    return UNETR(in_chans, classes, img_size=size, feature_size=16, spatial_dims=spatial_dims)


def _monai_resnet18(spatial_dims: int, in_chans: int, size: tuple[int, ...], classes: int | None):
    from monai.networks.nets import resnet18

    kwargs = {} if classes is None else {"num_classes": classes}
    return resnet18(spatial_dims=spatial_dims, n_input_channels=in_chans, **kwargs)


MONAI_MODELS: dict[str, Callable[[int, int, tuple[int, ...], int | None], nn.Module]] = {
    "swin_unetr": _swin_unetr,  # full SwinUNETR segmentation network, feature_size 48
    "swin_unetr_encoder": _swin_unetr_encoder,  # its Swin encoder (``.swinViT``) alone
    "unetr": _unetr,
    "monai_resnet18": _monai_resnet18,
}
"""MONAI networks by benchmark name: ``(spatial_dims, in_chans, input_size, num_classes)``."""


def resolve_model(name: str) -> str:
    """Which library builds ``name``: ``"hybridnets"``, ``"monai"`` or ``"timm"``.

    The hybridnets registry wins (its models are also registered in timm), then the MONAI
    aliases in :data:`MONAI_MODELS`, then timm.

    Raises:
        ValueError: no library knows ``name``.
    """
    if hybridnets.is_model(name):
        return "hybridnets"
    if name in MONAI_MODELS:
        return "monai"
    if timm.is_model(name):
        return "timm"
    raise ValueError(
        f"unknown model {name!r}: not a hybridnets model (hybridnets.list_models()), "
        f"a MONAI alias ({', '.join(MONAI_MODELS)}) or a timm model (timm.list_models())"
    )


def create_model(
    name: str,
    input_size: tuple[int, ...],
    in_chans: int,
    num_classes: int | None = None,
) -> nn.Module:
    """Build ``name`` for inputs of spatial size ``input_size`` (2 or 3 dims) in eval mode.

    Args:
        name: A hybridnets, MONAI-alias or timm model name.
        input_size: Spatial size; its length is ``spatial_dims``.
        in_chans: Input channels.
        num_classes: Classes (segmentation: output channels); None keeps each library's
            default (timm/hybridnets 1000, MONAI segmentation nets 14, MONAI ResNet 400).
    """
    spatial_dims = len(input_size)
    source = resolve_model(name)
    classes = {} if num_classes is None else {"num_classes": num_classes}
    if source == "hybridnets":
        model = hybridnets.create(name, spatial_dims=spatial_dims, in_chans=in_chans, **classes)
    elif source == "monai":
        model = MONAI_MODELS[name](spatial_dims, in_chans, input_size, num_classes)
    else:
        if spatial_dims != 2:
            raise ValueError(f"timm model {name!r} is 2D only; got input size {input_size}")
        default = timm.get_pretrained_cfg_value(name, "input_size") or (3, 224, 224)
        kwargs: dict[str, Any] = {"in_chans": in_chans, **classes}
        if tuple(default[1:]) != tuple(input_size):
            try:  # models with a fixed token grid (ViT, Swin, MaxViT) take img_size
                model = timm.create_model(name, img_size=input_size, **kwargs)
                return model.eval()
            except TypeError:  # CNNs take any size and no img_size argument
                pass
        model = timm.create_model(name, **kwargs)
    return model.eval()


def parse_input_size(text: str, spatial_dims: int | None = None) -> tuple[int, ...]:
    """``"224"`` → ``(224, 224)``; ``"96,96,96"`` → 3D; ``"96"`` with ``spatial_dims=3`` → 3D.

    Raises:
        ValueError: not 1–3 positive integers, or at odds with ``spatial_dims``.
    """
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        size = tuple(int(p) for p in parts)
    except ValueError as err:
        raise ValueError(f"input size {text!r} must be integers, e.g. 224 or 96,96,96") from err
    if not size or any(s <= 0 for s in size) or len(size) > 3:
        raise ValueError(f"input size {text!r} must be 1 to 3 positive integers")
    if len(size) == 1:
        size = size * (spatial_dims or 2)
    if spatial_dims is not None and len(size) != spatial_dims:
        raise ValueError(
            f"input size {text!r} has {len(size)} dims but spatial_dims={spatial_dims}"
        )
    if len(size) not in (2, 3):
        raise ValueError(f"input size {text!r} must be 2D or 3D")
    return size


def default_models(spatial_dims: int) -> list[str]:
    """Every registered hybridnets model except ``*_test``, then the peers for that rank."""
    ours = [n for n in hybridnets.list_models() if not n.endswith("_test")]
    return ours + list(DEFAULT_PEERS_2D if spatial_dims == 2 else DEFAULT_PEERS_3D)


def cpu_threads(requested: str, device: torch.device | str = "cpu") -> int:
    """Threads for torch on the CPU: ``requested`` if a number; ``"auto"`` keeps torch's default
    unless the CPU is already busy (1-minute load average), then uses the cores left idle, at
    least one: OpenMP threads that wait for a busy core make every op several times slower."""
    default = torch.get_num_threads()
    if requested != "auto":
        return max(1, int(requested))
    if torch.device(device).type != "cpu" or not hasattr(os, "getloadavg"):
        return default
    idle = (os.cpu_count() or default) - os.getloadavg()[0]
    return max(1, min(default, round(idle)))


def split_names(text: str) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]``."""
    return [n.strip() for n in text.split(",") if n.strip()]


def env_info(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Versions, device name and thread count for the JSON ``env`` object."""
    device = torch.device(device)

    def version(package: str) -> str | None:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": version("triton"),
        "timm": timm.__version__,
        "monai": version("monai"),
        "fvcore": version("fvcore"),
        "hybridnets": hybridnets.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "device": str(device),
        "device_name": name,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(value: Any, digits: int = 2) -> str:
    """Table cell text: floats to ``digits`` decimals, None to ``-``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A Markdown table of ``rows`` with ``columns`` given as ``(key, header)`` pairs."""
    lines = [
        "| " + " | ".join(header for _, header in columns) + " |",
        "|" + "|".join("---" if key in TEXT_KEYS else "---:" for key, _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(fmt(row.get(key)) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def text_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A fixed-width plain-text table (the default console output)."""
    cells = [[header for _, header in columns]]
    cells += [[fmt(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    out = []
    for r in cells:
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
            )
        )
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
