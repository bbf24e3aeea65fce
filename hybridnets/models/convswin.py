"""ConvSwin: every stage interleaves ConvNeXt blocks with shifted-window attention blocks; 2D and 3D.

The Next-ViT layout (Li et al., "Next-ViT: Next Generation Vision Transformer for Efficient
Deployment in Realistic Industrial Scenarios", 2022): local convolution and window attention mix
at every scale instead of being split into early and late stages. Blocks come from ConvNeXt
(Liu et al., CVPR 2022) and Swin (Liu et al., ICCV 2021). Code: Apache-2.0, hybridnets authors.

    model = hybridnets.create("convswin_t", spatial_dims=3, in_chans=1, num_classes=2)
"""

from __future__ import annotations

from typing import Any

from torch import nn

from hybridnets.models.convvit import ConvViT, ConvViTCfg, create_hybrid
from hybridnets.registry import register_model

__all__ = ["ConvSwin"]


class ConvSwin(ConvViT):
    """A :class:`ConvViT` whose stages each interleave conv and window-attention blocks."""


_CFGS = {
    "convswin_test": ConvViTCfg(
        dims=(16, 32, 48, 64),
        depths=(2, 2, 2, 2),
        num_heads=(1, 1, 2, 2),
        block_types=("CW",) * 4,
        window_size=3,
        stem_stride=2,
        default_size=32,
    ),
    "convswin_t": ConvViTCfg(
        dims=(96, 192, 384, 768),
        depths=(2, 2, 9, 2),
        num_heads=(3, 6, 12, 24),
        block_types=("CW", "CW", "CCW", "CW"),
    ),
    "convswin_s": ConvViTCfg(
        dims=(96, 192, 384, 768),
        depths=(2, 2, 27, 2),
        num_heads=(3, 6, 12, 24),
        block_types=("CW", "CW", "CCW", "CW"),
    ),
}


def _create(variant: str, pretrained: Any, **kwargs: Any) -> nn.Module:
    return create_hybrid(_CFGS, variant, pretrained, model_cls=ConvSwin, **kwargs)


@register_model
def convswin_test(pretrained: Any = False, **kwargs: Any) -> ConvSwin:
    """Tiny ConvSwin for tests (window 3)."""
    return _create("convswin_test", pretrained, **kwargs)


@register_model
def convswin_t(pretrained: Any = False, **kwargs: Any) -> ConvSwin:
    """ConvSwin-T: ConvNeXt-T widths, a window block after every conv block (two in stage 3)."""
    return _create("convswin_t", pretrained, **kwargs)


@register_model
def convswin_s(pretrained: Any = False, **kwargs: Any) -> ConvSwin:
    """ConvSwin-S: ConvSwin-T with a 27-block third stage."""
    return _create("convswin_s", pretrained, **kwargs)
