"""Shared construction: defaults for ``pretrained_cfg``, weights, and the ``features_only`` wrapper.

Every registered constructor ends in :func:`build_model`, so ``hybridnets.create`` and
``timm.create_model`` give the same model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models._features import FeatureGetterNet
from torch import nn

logger = logging.getLogger(__name__)

# timm.create_model passes these; they mean nothing for a model built here.
_TIMM_ONLY_KWARGS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def default_pretrained_cfg(
    variant: str, spatial_dims: int, in_chans: int, num_classes: int, input_size: int, **extra: Any
) -> dict[str, Any]:
    """The ``pretrained_cfg`` dict of a freshly built model (timm's keys)."""
    rgb = in_chans == 3
    return {
        "architecture": variant,
        "tag": "",
        "url": "",
        "input_size": (in_chans, *([input_size] * spatial_dims)),
        "spatial_dims": spatial_dims,
        "mean": IMAGENET_DEFAULT_MEAN if rgb else (0.5,) * in_chans,
        "std": IMAGENET_DEFAULT_STD if rgb else (0.5,) * in_chans,
        "num_classes": num_classes,
        "first_conv": "stem.0",
        "classifier": "head.fc",
        "license": "apache-2.0",
        **extra,
    }


def build_model(
    model_cls: Callable[..., nn.Module],
    variant: str,
    pretrained: bool | str | Path = False,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build ``model_cls(**kwargs)``, record how (for ``save_pretrained``), load weights, wrap.

    Args:
        model_cls: The model class (or a partial with its config bound).
        variant: Registered name, e.g. ``"convvit_t"``.
        pretrained: Weight source understood by :func:`hybridnets.pretrained.load_pretrained`.
        features_only: Return timm's ``FeatureGetterNet`` (a list of per-stage maps).
        out_indices: Stages to return with ``features_only``.
        **kwargs: Constructor arguments.
    """
    for key in _TIMM_ONLY_KWARGS:
        if kwargs.pop(key, None) is not None:
            logger.info("ignoring %s for hybridnets model %s", key, variant)
    model = model_cls(**kwargs)
    model.hybridnets_config = {"architecture": variant, "kwargs": dict(kwargs)}
    if pretrained:
        from hybridnets.pretrained import load_pretrained

        load_pretrained(model, pretrained)
    if features_only:
        indices = tuple(range(len(model.feature_info))) if out_indices is None else out_indices
        model = FeatureGetterNet(model, out_indices=indices)
    return model
