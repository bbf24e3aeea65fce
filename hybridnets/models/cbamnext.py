"""CBAMNeXt: ConvNeXt with CBAM channel and spatial gating in every block; 2D and 3D.

The "CNN plus attention gating" point of the zoo: ConvNeXt (Liu et al., "A ConvNet for the
2020s", CVPR 2022) with CBAM (Woo et al., ECCV 2018) applied to each block's residual branch.
Without the gates it is ConvNeXt-T/S exactly, so ConvNeXt weights load into every other key.
Code: Apache-2.0, hybridnets authors.

    model = hybridnets.create("cbamnext_t", spatial_dims=3, in_chans=1, num_classes=2)
"""

from __future__ import annotations

from typing import Any

from torch import nn

from hybridnets.models.convvit import ConvViT, ConvViTCfg, create_hybrid
from hybridnets.registry import register_model

__all__ = ["CBAMNeXt"]


class CBAMNeXt(ConvViT):
    """A :class:`ConvViT` made only of CBAM-gated ConvNeXt blocks."""


_CFGS = {
    "cbamnext_test": ConvViTCfg(
        dims=(16, 32, 48, 64),
        depths=(1, 1, 2, 1),
        num_heads=(1, 1, 1, 1),
        block_types=("C",) * 4,
        cbam=True,
        stem_stride=2,
        default_size=32,
    ),
    "cbamnext_t": ConvViTCfg(
        dims=(96, 192, 384, 768),
        depths=(3, 3, 9, 3),
        num_heads=(1,) * 4,
        block_types=("C",) * 4,
        cbam=True,
    ),
    "cbamnext_s": ConvViTCfg(
        dims=(96, 192, 384, 768),
        depths=(3, 3, 27, 3),
        num_heads=(1,) * 4,
        block_types=("C",) * 4,
        cbam=True,
    ),
}


def _create(variant: str, pretrained: Any, **kwargs: Any) -> nn.Module:
    return create_hybrid(_CFGS, variant, pretrained, model_cls=CBAMNeXt, **kwargs)


@register_model
def cbamnext_test(pretrained: Any = False, **kwargs: Any) -> CBAMNeXt:
    """Tiny CBAMNeXt for tests."""
    return _create("cbamnext_test", pretrained, **kwargs)


@register_model
def cbamnext_t(pretrained: Any = False, **kwargs: Any) -> CBAMNeXt:
    """CBAMNeXt-T: ConvNeXt-T layout with CBAM in every block."""
    return _create("cbamnext_t", pretrained, **kwargs)


@register_model
def cbamnext_s(pretrained: Any = False, **kwargs: Any) -> CBAMNeXt:
    """CBAMNeXt-S: ConvNeXt-S layout with CBAM in every block."""
    return _create("cbamnext_s", pretrained, **kwargs)
