"""The one model factory: any name (hybridnets, a MONAI alias, timm) → a module, 2D or 3D,
with weights and as a feature extractor where its library offers them (``hybridnets.create``).

The recipe, the benchmarks and the examples all build models here, so ``convvit_n``,
``monai_resnet18`` and ``resnet18`` can sit side by side in one command or one ``--models`` list.
The hybridnets registry wins (its models are also registered in timm), then the MONAI aliases in
:data:`MONAI_MODELS`, then timm (2D only).

    model = create_model("monai_resnet18", spatial_dims=3, in_chans=1, num_classes=2)
    model = create_model("swin_unetr", spatial_dims=3, in_chans=1, input_size=(96, 96, 96))
    feats = create_model("convvit_t", features_only=True, out_indices=(1, 2, 3))(x)
    model = create_model(pretrained="runs/pretrained")    # a folder from save_pretrained
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from hybridnets.registry import is_model, list_models, model_entrypoint

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

    if is_model(name):
        return "hybridnets"
    if name in MONAI_MODELS:
        return "monai"
    if timm.is_model(name):
        return "timm"
    known = list(dict.fromkeys([*list_models(), *MONAI_MODELS, *timm.list_models()]))
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
            f"`pretrained` loads hybridnets weights; {name!r} is a {source} model "
            "(timm weights: `model_kwargs` '{\"pretrained\": true}')"
        )
    return {"pretrained": pretrained}


def create_model(
    name: str | None = None,
    spatial_dims: int | None = None,
    in_chans: int | None = None,
    num_classes: int | None = None,
    *,
    pretrained: bool | str | Path = False,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    input_size: Sequence[int] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build ``name`` from hybridnets, MONAI or timm (in train mode, like every constructor);
    ``hybridnets.create`` is this function.

    Args:
        name: A hybridnets model (``convvit_n``), a MONAI alias (``monai_resnet18``,
            ``swin_unetr``, ...) or a timm model (``resnet18``; 2D only). May be omitted when
            ``pretrained`` is a folder written by :func:`hybridnets.save_pretrained`.
        spatial_dims: 2 or 3 (None: the model's default, 2; a saved folder's own).
        in_chans: Input channels (None: the model's default, 3; a saved folder's own).
        num_classes: Output classes (segmentation: output channels); None keeps each library's
            default (hybridnets/timm 1000, MONAI ResNet 400, MONAI segmentation nets 14).
        pretrained: hybridnets: False, True (the model's default weights), a weight tag, a
            local file or folder, a URL or ``hf-hub:org/repo`` (see :mod:`hybridnets.pretrained`).
            timm: False or True (timm's own weights). MONAI: False.
        features_only: Return a module whose forward gives the list of per-stage maps
            (hybridnets and timm).
        out_indices: Stages to return with ``features_only`` (default: all).
        input_size: Spatial input size, needed by models with a fixed token grid (``unetr``;
            timm ViT/Swin/MaxViT get ``img_size`` when it differs from their default). It does
            not change a hybridnets layout: the recipes also pass
            :func:`hybridnets.input_size_kwargs` (``convvit_n``: ``stem_stride=4`` from 56 px),
            and so can you: ``create("convvit_n", **input_size_kwargs("convvit_n", (64, 64)))``.
        **kwargs: Extra constructor arguments (``stem_stride=1``, ``conv1_t_stride=2``, ...);
            for hybridnets weights also ``sha256``, the expected digest of the weight file.

    Raises:
        ValueError: unknown name (with close matches), a 2D-only timm model asked for 3D,
            ``input_size`` of the wrong rank, or an option the model's library does not offer.
    """
    if name is None:
        if not pretrained or isinstance(pretrained, bool):
            raise ValueError("create_model needs a model name unless pretrained is a saved folder")
        from hybridnets.pretrained import read_saved_config

        config = read_saved_config(pretrained)
        name, kwargs = config["architecture"], {**config["kwargs"], **kwargs}
    if spatial_dims not in (None, 2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    dims = spatial_dims or kwargs.get("spatial_dims", 2)
    if input_size is not None and len(input_size) != dims:
        raise ValueError(f"input_size {tuple(input_size)} has not {dims} dims")
    source = model_source(name)
    given = {k: v for k, v in (("spatial_dims", spatial_dims), ("in_chans", in_chans),
                               ("num_classes", num_classes)) if v is not None}  # fmt: skip
    if source == "hybridnets":
        return model_entrypoint(name)(
            pretrained=pretrained, features_only=features_only, out_indices=out_indices,
            **kwargs | given,
        )  # fmt: skip
    if source == "monai":
        if pretrained or features_only:
            raise ValueError(
                f"MONAI alias {name!r} takes no pretrained or features_only; load weights "
                "with hybridnets.pretrained.load_pretrained(model, file)"
            )
        return MONAI_MODELS[name](dims, in_chans or 3, num_classes, input_size, **kwargs)
    if dims != 2:
        raise ValueError(
            f"timm model {name!r} is 2D only; for 3D use a hybridnets model "
            f"(hybridnets.list_models()) or a MONAI alias ({', '.join(MONAI_MODELS)})"
        )
    if not isinstance(pretrained, bool):
        raise ValueError(f"timm model {name!r} takes pretrained=True or False, not {pretrained!r}")
    extra = {"features_only": True, "out_indices": out_indices} if features_only else {}
    extra |= {"num_classes": num_classes} if num_classes is not None else {}
    return _create_timm(name, in_chans or 3, input_size, pretrained=pretrained, **extra, **kwargs)


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
