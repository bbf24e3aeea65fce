"""ConvViT's conversion from its timm parents (ConvNeXt stages 1–2, Swin stages 3–4): the
checkpoint filter timm calls, the transplant it runs, and the weight-tag helper.

Kept beside the model (``convvit.py``) as timm keeps ``checkpoint_filter_fn`` with each family;
``convswin`` and ``cbamnext`` reuse it with their own layouts.

    state = convvit_from_timm(convnext_sd, swin_sd, cfg)   # a ConvViT state dict
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

from torch import Tensor, nn

from hybridnets.pretrained.adapt import DERIVED_SUFFIXES
from hybridnets.pretrained.registry import TIMM_SOURCE_PREFIX, PretrainedCfg

PARENT_LAYOUT = ("C", "C", "W", "G")
"""convvit_{t,s,b}'s block types per stage, the layout a transplant assumes by default."""


class Layout(Protocol):
    """What a transplant reads of a target config (a ``ConvViTCfg``)."""

    block_types: tuple[str, ...]
    depths: tuple[int, ...]


__all__ = ["checkpoint_filter_fn", "convvit_from_timm", "timm_weights"]

# timm ConvNeXt and Swin parents --------------------------------------
_CONVNEXT_BLOCK = re.compile(r"stages\.(\d+)\.blocks\.(\d+)\.(.+)")
_SWIN_BLOCK = re.compile(r"layers\.(\d+)\.blocks\.(\d+)\.(.+)")


def _block_slot(pattern: str, kinds: str, k: int, depth: int | None) -> int | None:
    """Index of the ``k``-th block of a type in ``kinds`` in a stage repeating ``pattern``."""
    slots = [j for j, kind in enumerate(pattern) if kind in kinds]
    if not slots:
        return None
    j = (k // len(slots)) * len(pattern) + slots[k % len(slots)]
    return j if depth is None or j < depth else None


def convvit_from_timm(
    convnext: Mapping[str, Tensor],
    swin: Mapping[str, Tensor] | None = None,
    cfg: Layout | None = None,
) -> dict[str, Tensor]:
    """A hybrid state dict assembled from timm ``convnext_*`` and ``swin_*`` state dicts.

    ConvNeXt gives the stem, the downsamples and, in order, each stage's ``C`` blocks; Swin
    gives, in order, each stage's ``W``/``G`` blocks (its shifts alternate as ours do) and, if
    the last block attends, the head (``norm`` → ``head.norm``), else ConvNeXt does. Blocks
    beyond the layout, Swin's patch merging and its index/mask buffers are dropped. Conv
    blocks reproduce ConvNeXt's and attention blocks Swin's exactly; the junctions (a
    downsample trained before ConvNeXt blocks, Swin's norm before pooling) need fine-tuning.

    Args:
        convnext: State dict of timm ``convnext_{tiny,small,base}`` (or any ConvNeXt).
        swin: State dict of timm ``swin_{tiny,small,base}_patch4_window7_224``.
        cfg: Target layout; None is convvit_{t,s,b}'s (``C C W G``) at the parents' depths.

    ``sd = convvit_from_timm(convnext.state_dict(), swin.state_dict())``
    """
    patterns = cfg.block_types if cfg else PARENT_LAYOUT
    depths = cfg.depths if cfg else (None,) * len(patterns)
    last = patterns[-1][((depths[-1] or len(patterns[-1])) - 1) % len(patterns[-1])]
    head_from_swin = swin is not None and last in "WG"
    out: dict[str, Tensor] = {}
    for key, value in convnext.items():
        if match := _CONVNEXT_BLOCK.fullmatch(key):
            stage, k, rest = int(match[1]), int(match[2]), match[3]
            j = _block_slot(patterns[stage], "C", k, depths[stage])
            if j is None:
                continue
            if rest.startswith("mlp.fc") and value.ndim > 2:
                value = value.flatten(1)  # (O, I, 1, 1) conv MLP (conv_mlp=True) → linear
            out[f"stages.{stage}.blocks.{j}.{'ls.gamma' if rest == 'gamma' else rest}"] = value
        elif key.startswith(("stem.", "stages.")) or (
            not head_from_swin and key.startswith("head.")
        ):
            out[key] = value  # stem, downsamples, head.norm / head.fc
    for key, value in (swin or {}).items():
        if key.endswith(DERIVED_SUFFIXES):
            continue
        if match := _SWIN_BLOCK.fullmatch(key):
            stage, k, rest = int(match[1]), int(match[2]), match[3]
            j = _block_slot(patterns[stage], "WG", k, depths[stage])
            if j is not None:
                rest = rest.replace(
                    "attn.relative_position_bias_table", "attn.rpb.relative_position_bias_table"
                )
                out[f"stages.{stage}.blocks.{j}.{rest}"] = value
        elif head_from_swin and key.startswith(("norm.", "head.fc.")):
            out[f"head.{key}" if key.startswith("norm.") else key] = value
    return out


def checkpoint_filter_fn(
    parents: Mapping[str, Mapping[str, Tensor]], model: nn.Module
) -> dict[str, Tensor]:
    """timm checkpoints, keyed by timm name (``{"convnext_tiny.fb_in1k": sd, ...}``), → ``model``'s
    keys: :func:`convvit_from_timm` at the model's layout. CBAM gates have no parent and keep the
    model's values (identity at init), so a CBAMNeXt reproduces its ConvNeXt parent."""
    convnext = next((sd for name, sd in parents.items() if name.startswith("convnext")), None)
    swin = next((sd for name, sd in parents.items() if name.startswith("swin")), None)
    attends = any(set(p) & set("WG") for p in model.cfg.block_types)
    if convnext is None or (attends and swin is None):
        need = "one convnext_* and one swin_* parent" if attends else "a convnext_* parent"
        raise ValueError(
            f"a timm transplant into {type(model).__name__} needs {need}, got {sorted(parents)}"
        )
    out = convvit_from_timm(convnext, swin, model.cfg)
    for key, value in model.state_dict().items():
        if ".gate." in key:
            out.setdefault(key, value)
    return out


def timm_weights(convnext: str, swin: str | None = None) -> PretrainedCfg:
    """A weight tag built by :func:`checkpoint_filter_fn` from timm's ImageNet-1k checkpoints
    ``<convnext>.fb_in1k`` (and ``<swin>.ms_in1k``)."""
    parents = f"{convnext}.fb_in1k" + (f"+{swin}.ms_in1k" if swin else "")
    description = (
        f"ImageNet-1k init transplanted from timm {convnext}.fb_in1k (stem, conv blocks, "
        f"downsamples; Apache-2.0) and {swin}.ms_in1k (attention blocks, head; MIT). "
        "Fine-tune before use."
        if swin
        else f"timm {convnext}.fb_in1k (ImageNet-1k) with identity CBAM gates: ConvNeXt's "
        "outputs until fine-tuned."
    )
    licence = "Apache-2.0 AND MIT" if swin else "Apache-2.0"
    return PretrainedCfg(TIMM_SOURCE_PREFIX + parents, licence=licence, description=description)
