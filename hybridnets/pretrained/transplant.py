"""timm → convvit: assemble a convvit state dict from timm ConvNeXt and Swin checkpoints.

    sd = convvit_from_timm(read_state_dict("convnext_tiny.safetensors"),
                           read_state_dict("swin_tiny.safetensors"))

convvit_{t,s,b} share ConvNeXt-{T,S,B}'s widths and Swin-{T,S,B}'s heads and window (7):

==============================  ============================================
convvit                         timm parent
==============================  ============================================
``stem.*``                      convnext ``stem.*``
``stages.{0,1}.*``              convnext ``stages.{0,1}.*`` (``gamma`` → ``ls.gamma``)
``stages.{2,3}.downsample.*``   convnext ``stages.{2,3}.downsample.*``
``stages.{2,3}.blocks.j.*``     swin ``layers.{2,3}.blocks.j.*``
                                (``attn.relative_position_bias_table`` → ``attn.rpb.…``)
``head.norm.*``, ``head.fc.*``  swin ``norm.*``, ``head.fc.*``
==============================  ============================================

The parents never met: the convolutional downsamples feeding the attention stages were trained
in front of ConvNeXt blocks, not Swin blocks, and Swin normalises tokens before pooling where
convvit's head normalises after. Stem and stages 1–2 reproduce ConvNeXt exactly, each attention
block reproduces its Swin block exactly; fine-tuning re-harmonises the junctions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

_CONVNEXT_RULES = (
    (r"stem\.(.*)", r"stem.\1"),
    (r"stages\.([01])\.blocks\.(\d+)\.gamma", r"stages.\1.blocks.\2.ls.gamma"),
    (r"stages\.([01])\.(.*)", r"stages.\1.\2"),
    (r"stages\.([23])\.downsample\.(.*)", r"stages.\1.downsample.\2"),
)
_SWIN_RULES = (
    (
        r"layers\.([23])\.blocks\.(\d+)\.attn\.relative_position_bias_table",
        r"stages.\1.blocks.\2.attn.rpb.relative_position_bias_table",
    ),
    (r"layers\.([23])\.blocks\.(\d+)\.(.*)", r"stages.\1.blocks.\2.\3"),
    (r"norm\.(weight|bias)", r"head.norm.\1"),
    (r"head\.fc\.(weight|bias)", r"head.fc.\1"),
)
_DERIVED = ("relative_position_index", "attn_mask")


def _apply(rules: tuple[tuple[str, str], ...], key: str) -> str | None:
    for pattern, replacement in rules:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, replacement, key)
    return None


def convvit_from_timm(
    convnext: Mapping[str, torch.Tensor], swin: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """A convvit state dict from timm ``convnext_*`` and ``swin_*`` state dicts.

    Args:
        convnext: State dict of timm ``convnext_tiny`` / ``_small`` / ``_base``.
        swin: State dict of timm ``swin_{tiny,small,base}_patch4_window7_224``.

    Returns:
        Tensors under convvit names; load it with :func:`load_pretrained` to adapt channels,
        classes, rank and window size and to see what did not fit.
    """
    out: dict[str, torch.Tensor] = {}
    for rules, state_dict in ((_CONVNEXT_RULES, convnext), (_SWIN_RULES, swin)):
        for key, value in state_dict.items():
            if key.endswith(_DERIVED):
                continue
            new = _apply(rules, key)
            if new is not None:
                out[new] = value
    return out
