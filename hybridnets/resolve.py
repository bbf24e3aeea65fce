"""The one model resolver: any name (hybridnets, a MONAI alias, timm) → a module, 2D or 3D.

The recipe, the benchmarks and the examples all build models here, so ``convvit_n``,
``monai_resnet18`` and ``resnet18`` can sit side by side in one command or one ``--models`` list.
The hybridnets registry wins (its models are also registered in timm), then the MONAI aliases in
:data:`MONAI_MODELS`, then timm (2D only).

    model = create_model("monai_resnet18", spatial_dims=3, in_chans=1, num_classes=2)
    model = create_model("swin_unetr", spatial_dims=3, in_chans=1, input_size=(96, 96, 96))
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

__all__ = ["MONAI_MODELS", "create_model", "model_source", "pretrained_kwargs"]

SEGMENTATION_CLASSES = 14  # BTCV, the setting of the published SwinUNETR / UNETR figures
MONAI_RESNET_CLASSES = 400  # MONAI's own ResNet default (Kinetics-400)

MonaiBuilder = Callable[..., nn.Module]
"""``builder(spatial_dims, in_chans, num_classes, input_size, **kwargs) -> nn.Module``."""


def _monai_resnet(depth: int) -> MonaiBuilder:
    def build(
        spatial_dims: int,
        in_chans: int,
        num_classes: int | None,
        input_size: Sequence[int] | None,
        **kwargs: Any,
    ) -> nn.Module:
        from monai.networks import nets

        classes = MONAI_RESNET_CLASSES if num_classes is None else num_classes
        return getattr(nets, f"resnet{depth}")(
            spatial_dims=spatial_dims, n_input_channels=in_chans, num_classes=classes, **kwargs
        )

    return build


def _swin_unetr(spatial_dims, in_chans, num_classes, input_size, **kwargs) -> nn.Module:
    from monai.networks.nets import SwinUNETR

    classes = SEGMENTATION_CLASSES if num_classes is None else num_classes
    kwargs.setdefault("feature_size", 48)
    return SwinUNETR(in_chans, classes, spatial_dims=spatial_dims, **kwargs)


def _swin_unetr_encoder(spatial_dims, in_chans, num_classes, input_size, **kwargs) -> nn.Module:
    return _swin_unetr(spatial_dims, in_chans, num_classes, input_size, **kwargs).swinViT


def _unetr(spatial_dims, in_chans, num_classes, input_size, **kwargs) -> nn.Module:
    from monai.networks.nets import UNETR

    if input_size is None:
        raise ValueError("unetr has a fixed token grid: pass input_size, e.g. (96, 96, 96)")
    classes = SEGMENTATION_CLASSES if num_classes is None else num_classes
    kwargs.setdefault("feature_size", 16)
    return UNETR(in_chans, classes, img_size=tuple(input_size), spatial_dims=spatial_dims, **kwargs)


MONAI_MODELS: dict[str, MonaiBuilder] = {
    **{f"monai_resnet{d}": _monai_resnet(d) for d in (10, 18, 34, 50)},
    "swin_unetr": _swin_unetr,  # full SwinUNETR segmentation network, feature_size 48
    "swin_unetr_encoder": _swin_unetr_encoder,  # its Swin encoder (``.swinViT``) alone
    "unetr": _unetr,
}
"""MONAI networks by name; extra keyword arguments go to the MONAI constructor."""


def model_source(name: str) -> str:
    """``"hybridnets"``, ``"monai"`` or ``"timm"``: the library that builds ``name``.

    Raises:
        ValueError: no library knows ``name``; the message lists the closest known names.
    """
    import timm

    import hybridnets

    if hybridnets.is_model(name):
        return "hybridnets"
    if name in MONAI_MODELS:
        return "monai"
    if timm.is_model(name):
        return "timm"
    known = [*hybridnets.list_models(), *MONAI_MODELS, *timm.list_models()]
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(
        f"unknown model {name!r}: not a hybridnets model (hybridnets.list_models()), a MONAI "
        f"alias ({', '.join(MONAI_MODELS)}) or a timm model (timm.list_models()){hint}"
    )


def pretrained_kwargs(name: str, pretrained: str | None) -> dict[str, str]:
    """``create_model`` arguments that start hybridnets model ``name`` from ``pretrained``
    weights (a folder, file, tag or URL; the classifier starts fresh); none when it is None.

    Raises:
        ValueError: ``name`` is a timm or MONAI model (whose own weights are asked for otherwise).
    """
    if not pretrained:
        return {}
    source = model_source(name)
    if source != "hybridnets":
        raise ValueError(
            f"--pretrained loads hybridnets weights; {name!r} is a {source} model "
            "(timm weights: --model-kwargs '{\"pretrained\": true}')"
        )
    return {"pretrained": pretrained}


def create_model(
    name: str,
    spatial_dims: int = 2,
    in_chans: int = 3,
    num_classes: int | None = None,
    input_size: Sequence[int] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build ``name`` from hybridnets, MONAI or timm (in train mode, like every constructor).

    Args:
        name: A hybridnets model (``convvit_n``), a MONAI alias (``monai_resnet18``,
            ``swin_unetr``, ...) or a timm model (``resnet18``; 2D only).
        spatial_dims: 2 or 3.
        in_chans: Input channels.
        num_classes: Output classes (segmentation: output channels); None keeps each library's
            default (hybridnets/timm 1000, MONAI ResNet 400, MONAI segmentation nets 14).
        input_size: Spatial input size, needed by models with a fixed token grid (``unetr``;
            timm ViT/Swin/MaxViT get ``img_size`` when it differs from their default).
        **kwargs: Extra constructor arguments (``stem_stride=1``, ``conv1_t_stride=2``, ...).

    Raises:
        ValueError: unknown name (with close matches), a 2D-only timm model asked for 3D, or
            ``input_size`` of the wrong rank.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    if input_size is not None and len(input_size) != spatial_dims:
        raise ValueError(f"input_size {tuple(input_size)} has not {spatial_dims} dims")
    source = model_source(name)
    classes = {} if num_classes is None else {"num_classes": num_classes}
    if source == "hybridnets":
        import hybridnets

        return hybridnets.create(
            name, spatial_dims=spatial_dims, in_chans=in_chans, **classes, **kwargs
        )
    if source == "monai":
        return MONAI_MODELS[name](spatial_dims, in_chans, num_classes, input_size, **kwargs)
    if spatial_dims != 2:
        raise ValueError(
            f"timm model {name!r} is 2D only; for 3D use a hybridnets model "
            f"(hybridnets.list_models()) or a MONAI alias ({', '.join(MONAI_MODELS)})"
        )
    return _create_timm(name, in_chans, input_size, **classes, **kwargs)


def _create_timm(
    name: str, in_chans: int, input_size: Sequence[int] | None, **kwargs: Any
) -> nn.Module:
    import timm

    default = timm.get_pretrained_cfg_value(name, "input_size") or (3, 224, 224)
    resize = input_size is not None and tuple(default[1:]) != tuple(input_size)
    if resize and "img_size" not in kwargs:
        try:  # models with a fixed token grid (ViT, Swin, MaxViT) take img_size
            return timm.create_model(name, in_chans=in_chans, img_size=tuple(input_size), **kwargs)
        except TypeError:  # CNNs take any size and no img_size argument
            pass
    return timm.create_model(name, in_chans=in_chans, **kwargs)
