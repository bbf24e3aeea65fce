"""CBAMNeXt: ConvNeXt with CBAM channel and spatial gating in every block; 2D and 3D.

The "CNN plus attention gating" point of the zoo: ConvNeXt (Liu et al., "A ConvNet for the
2020s", CVPR 2022) with CBAM (Woo et al., ECCV 2018) applied to each block's residual branch.
Its gates start as the identity, so timm's ConvNeXt-T/S weights (tags
``cbamnext_{t,s}.in1k_timm``, converted by :func:`hybridnets.models.convvit_timm.checkpoint_filter_fn`)
reproduce ConvNeXt's outputs until fine-tuning opens the gates.
Code: Apache-2.0, hybridnets authors.

    model = hybridnets.create("cbamnext_t", spatial_dims=3, in_chans=1, num_classes=2)
"""

from __future__ import annotations

from typing import Any

from hybridnets.models._builder import build_hybrid, model_cfg
from hybridnets.models.convvit import ConvViT, ConvViTCfg, checkpoint_filter_fn, timm_weights
from hybridnets.pretrained.registry import register_pretrained_cfgs
from hybridnets.registry import register_model

__all__ = ["CBAMNeXt"]


class CBAMNeXt(ConvViT):
    """A :class:`ConvViT` made only of CBAM-gated ConvNeXt blocks."""


_CFGS = {
    "cbamnext_test": ConvViTCfg(
        dims=(16, 32, 48, 64),
        depths=(1, 1, 2, 1),
        block_types=("C",) * 4,
        cbam=True,
        stem_stride=2,
    ),
    "cbamnext_t": ConvViTCfg(
        dims=(96, 192, 384, 768),
        depths=(3, 3, 9, 3),
        block_types=("C",) * 4,
        cbam=True,
    ),
    "cbamnext_s": ConvViTCfg(
        dims=(96, 192, 384, 768),
        depths=(3, 3, 27, 3),
        block_types=("C",) * 4,
        cbam=True,
    ),
}

default_cfgs = {
    "cbamnext_test": model_cfg(input_size=32),
    "cbamnext_t": model_cfg(),
    "cbamnext_s": model_cfg(),
}

# ConvNeXt's ImageNet weights with identity gates: ConvNeXt's outputs until fine-tuned.
register_pretrained_cfgs(
    {
        "cbamnext_t.in1k_timm": timm_weights("convnext_tiny"),
        "cbamnext_s.in1k_timm": timm_weights("convnext_small"),
    }
)


def _create_cbamnext(variant: str, pretrained: Any, **kwargs: Any) -> CBAMNeXt:
    cfgs = _CFGS[variant], default_cfgs[variant]
    return build_hybrid(CBAMNeXt, variant, *cfgs, pretrained, checkpoint_filter_fn, **kwargs)


@register_model
def cbamnext_test(pretrained: Any = False, **kwargs: Any) -> CBAMNeXt:
    """Tiny CBAMNeXt for tests."""
    return _create_cbamnext("cbamnext_test", pretrained, **kwargs)


@register_model
def cbamnext_t(pretrained: Any = False, **kwargs: Any) -> CBAMNeXt:
    """CBAMNeXt-T: ConvNeXt-T layout with CBAM in every block."""
    return _create_cbamnext("cbamnext_t", pretrained, **kwargs)


@register_model
def cbamnext_s(pretrained: Any = False, **kwargs: Any) -> CBAMNeXt:
    """CBAMNeXt-S: ConvNeXt-S layout with CBAM in every block."""
    return _create_cbamnext("cbamnext_s", pretrained, **kwargs)
