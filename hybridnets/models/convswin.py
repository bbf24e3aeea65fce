"""ConvSwin: every stage interleaves ConvNeXt blocks with shifted-window attention blocks; 2D and 3D.

The Next-ViT layout (Li et al., "Next-ViT: Next Generation Vision Transformer for Efficient
Deployment in Realistic Industrial Scenarios", 2022): local convolution and window attention mix
at every scale instead of being split into early and late stages. Blocks come from ConvNeXt
(Liu et al., CVPR 2022) and Swin (Liu et al., ICCV 2021), so ConvNeXt-T/S and Swin-T/S
ImageNet weights transplant into ``convswin_{t,s}`` (tags ``convswin_{t,s}.in1k_timm``: the conv
blocks from ConvNeXt, the window blocks and head from Swin; see
:func:`hybridnets.models.convvit_timm.checkpoint_filter_fn`). Code: Apache-2.0, hybridnets authors.

    model = hybridnets.create("convswin_t", spatial_dims=3, in_chans=1, num_classes=2)
"""

from __future__ import annotations

from typing import Any

from hybridnets.models._builder import build_hybrid, model_cfg
from hybridnets.models.convvit import ConvViT, ConvViTCfg, checkpoint_filter_fn, timm_weights
from hybridnets.pretrained.registry import register_pretrained_cfgs
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

default_cfgs = {
    "convswin_test": model_cfg(input_size=32),
    "convswin_t": model_cfg(),
    "convswin_s": model_cfg(),
}

# Conv blocks from ConvNeXt, window blocks (in order, shifts alternating) and head from Swin.
register_pretrained_cfgs(
    {
        "convswin_t.in1k_timm": timm_weights("convnext_tiny", "swin_tiny_patch4_window7_224"),
        "convswin_s.in1k_timm": timm_weights("convnext_small", "swin_small_patch4_window7_224"),
    }
)


def _create_convswin(variant: str, pretrained: Any, **kwargs: Any) -> ConvSwin:
    cfgs = _CFGS[variant], default_cfgs[variant]
    return build_hybrid(ConvSwin, variant, *cfgs, pretrained, checkpoint_filter_fn, **kwargs)


@register_model
def convswin_test(pretrained: Any = False, **kwargs: Any) -> ConvSwin:
    """Tiny ConvSwin for tests (window 3)."""
    return _create_convswin("convswin_test", pretrained, **kwargs)


@register_model
def convswin_t(pretrained: Any = False, **kwargs: Any) -> ConvSwin:
    """ConvSwin-T: ConvNeXt-T widths, a window block after every conv block (two in stage 3)."""
    return _create_convswin("convswin_t", pretrained, **kwargs)


@register_model
def convswin_s(pretrained: Any = False, **kwargs: Any) -> ConvSwin:
    """ConvSwin-S: ConvSwin-T with a 27-block third stage."""
    return _create_convswin("convswin_s", pretrained, **kwargs)
