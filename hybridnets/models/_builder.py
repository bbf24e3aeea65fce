"""Shared construction: layout overrides, ``pretrained_cfg``, weights, ``features_only``.

Every registered constructor ends in :func:`build_hybrid`, so ``hybridnets.create`` and
``timm.create_model`` give the same model, and timm's ``pretrained_cfg`` /
``pretrained_cfg_overlay`` arguments work as they do for timm's own models.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models._features import FeatureGetterNet
from torch import nn

logger = logging.getLogger(__name__)

# timm.create_model passes these; they mean nothing for a model built here.
_IGNORED_KWARGS = ("cache_dir", "pretrained_model_args")
# pretrained_cfg keys that name a weight file, in timm's order of preference.
_WEIGHT_KEYS = ("file", "hf_hub_id", "url")


def model_cfg(input_size: int = 224, **extra: Any) -> dict[str, Any]:
    """A ``default_cfgs`` entry: timm's ``pretrained_cfg`` keys for a registered size (RGB, 2D).

    ``input_size`` is the native side length; the model's own ``pretrained_cfg`` adapts it to
    its rank and channels (:func:`model_pretrained_cfg`).
    """
    return {
        "input_size": (3, input_size, input_size),
        "mean": IMAGENET_DEFAULT_MEAN,
        "std": IMAGENET_DEFAULT_STD,
        "num_classes": 1000,
        "classifier": "head.fc",
        "license": "apache-2.0",
        **extra,
    }


def model_pretrained_cfg(default_cfg: Mapping[str, Any], variant: str, model: nn.Module) -> dict:
    """The ``pretrained_cfg`` of a freshly built ``model``: ``default_cfg`` at its rank, channels
    and classes, plus its first convolution, smallest input and ``pool_size`` (the last map's
    size at the native input, which open_clip's timm tower reads for attention pooling)."""
    spatial_dims, in_chans = model.spatial_dims, model.in_chans
    rgb = in_chans == 3
    size = default_cfg["input_size"][-1]
    pool_side = -(-size // model.min_input_size)  # ceil: exact at the registered sizes
    first_conv = next(n for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd))
    return {
        **default_cfg,
        "architecture": variant,
        "tag": "",
        "url": "",
        "input_size": (in_chans, *([size] * spatial_dims)),
        "spatial_dims": spatial_dims,
        "mean": default_cfg["mean"] if rgb else (0.5,) * in_chans,
        "std": default_cfg["std"] if rgb else (0.5,) * in_chans,
        "num_classes": model.num_classes,
        "first_conv": first_conv,
        "min_input_size": model.min_input_size,
        "pool_size": (pool_side,) * spatial_dims,
    }


def build_hybrid(
    model_cls: Callable[..., nn.Module],
    variant: str,
    layout: Any,
    default_cfg: Mapping[str, Any],
    pretrained: bool | str | Path = False,
    pretrained_filter_fn: Callable[..., dict] | None = None,
    sha256: str | None = None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    pretrained_cfg: str | Mapping[str, Any] | None = None,
    pretrained_cfg_overlay: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build ``model_cls(layout, **kwargs)``, record how (for ``save_pretrained``), load weights.

    Args:
        model_cls: The model class; it takes the layout first.
        variant: Registered name, e.g. ``"convvit_t"``.
        layout: The size's layout dataclass; ``kwargs`` naming its fields override them.
        default_cfg: The size's ``default_cfgs`` entry (:func:`model_cfg`).
        pretrained: False, True (the overlay's ``file`` / ``hf_hub_id`` / ``url`` if given,
            else the tag timm passes as ``pretrained_cfg``, else the default tag), or a
            source for :func:`hybridnets.pretrained.load_pretrained`.
        pretrained_filter_fn: The family's conversion of timm checkpoints (``timm:`` sources),
            kept as ``model.pretrained_filter_fn`` for later loads.
        sha256: Expected sha256 of the weight file ``pretrained`` names (a URL, file, folder or
            hub repo); for ``timm:a+b`` tags one digest per parent, joined with ``+``. Tags
            registered with a digest check it without this.
        features_only: Return timm's ``FeatureGetterNet`` (a list of per-stage maps).
        out_indices: Stages to return with ``features_only``.
        pretrained_cfg: timm's argument: a tag (``timm.create_model("convvit_t.in1k_timm")``)
            or a dict of ``pretrained_cfg`` keys.
        pretrained_cfg_overlay: ``pretrained_cfg`` keys to set (``file=`` names the weights).
        **kwargs: Layout fields and constructor arguments.
    """
    for key in _IGNORED_KWARGS:
        if kwargs.pop(key, None) is not None:
            logger.info("ignoring %s for hybridnets model %s", key, variant)
    fields = {f.name for f in dataclasses.fields(layout)}
    overrides = {k: _tuples(v) for k, v in kwargs.items() if k in fields}
    model = model_cls(
        dataclasses.replace(layout, **overrides),
        **{k: v for k, v in kwargs.items() if k not in fields},
    )
    model.pretrained_cfg = model.default_cfg = model_pretrained_cfg(default_cfg, variant, model)
    model.hybridnets_config = {"architecture": variant, "kwargs": dict(kwargs)}
    model.pretrained_filter_fn = pretrained_filter_fn
    if hasattr(pretrained_cfg, "to_dict"):  # timm's PretrainedCfg
        pretrained_cfg = pretrained_cfg.to_dict()
    tag = pretrained_cfg if isinstance(pretrained_cfg, str) else None
    overlay = {
        **(pretrained_cfg if isinstance(pretrained_cfg, Mapping) else {}),
        **(pretrained_cfg_overlay or {}),
    }
    source = _weights_source(pretrained, tag, overlay)
    if sha256 is not None and not source:
        raise ValueError(f"sha256={sha256!r} checks pretrained weights, but {variant} loads none")
    if source:
        from hybridnets.pretrained import load_pretrained

        load_pretrained(model, source, sha256=sha256)
    model.pretrained_cfg.update(
        {k: str(v) if isinstance(v, Path) else v for k, v in overlay.items()}
    )
    if features_only:
        indices = tuple(range(len(model.feature_info))) if out_indices is None else out_indices
        wrapper = FeatureGetterNet(model, out_indices=indices)
        wrapper.pretrained_cfg = wrapper.default_cfg = model.pretrained_cfg  # as timm does
        return wrapper
    return model


def _weights_source(pretrained: bool | str | Path, tag: str | None, cfg: Mapping[str, Any]) -> Any:
    if pretrained is not True:
        return pretrained  # False, or an explicit source
    for key in _WEIGHT_KEYS:
        if cfg.get(key):
            return f"hf-hub:{cfg[key]}" if key == "hf_hub_id" else cfg[key]
    return tag or True


def _tuples(value: Any) -> Any:
    """JSON lists (``--model-kwargs``) → the tuples a frozen layout holds."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value
