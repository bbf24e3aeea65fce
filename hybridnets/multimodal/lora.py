"""LoRA for hybridnets backbones through ``peft``: which modules to adapt, by name.

Adapters are configured, not hand-patched (``peft.LoraConfig(target_modules=...)``): the
families only need clear module names, and peft matches a name when a module's qualified name
ends with it. Every family is a :class:`~hybridnets.models.ConvViT` layout, so the names are
shared; a name absent from a model (no attention in ``cbamnext``) is simply not matched.

| family                      | ``target_modules``                                          |
|-----------------------------|-------------------------------------------------------------|
| convvit_t/s/b, convswin     | ``attn.qkv``, ``attn.proj`` (window/global attention),      |
|                             | ``mlp.fc1``, ``mlp.fc2`` (ConvNeXt and transformer MLPs)    |
| convvit_n, convvit_test     | the above, plus ``conv_pw.0`` / ``conv_pwl.0`` (pointwise   |
|                             | convolutions of the MBConv / fused-MBConv stages)           |
| cbamnext                    | ``mlp.fc1``, ``mlp.fc2`` (ConvNeXt MLPs)                    |

The depthwise and the full 3^d convolutions, norms, CBAM / squeeze-excitation gates and the
stem stay frozen; pass ``modules_to_save=["head.fc"]`` to train a new classifier fully.

3D caveat: peft ≤ 0.21.2 cannot merge a LoRA on a 1×1×1 ``Conv3d`` (huggingface/peft#3768,
fixed by #3777 after that release); :func:`lora_targets` leaves 3D pointwise convolutions out
while the installed peft fails to merge them, so adapters always merge.

    config = LoraConfig(r=8, lora_alpha=16, target_modules=lora_targets(model))
    model = peft.get_peft_model(model, config)
"""

from __future__ import annotations

import functools
import logging

from torch import nn

__all__ = ["LORA_TARGET_MODULES", "POINTWISE_CONV_TARGETS", "lora_targets"]

_logger = logging.getLogger(__name__)

LORA_TARGET_MODULES = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
"""Attention projections and MLP linears of every family (module-name suffixes)."""

POINTWISE_CONV_TARGETS = ("conv_pw.0", "conv_pwl.0")
"""Pointwise convolutions of the MBConv and fused-MBConv stages (``convvit_n``)."""


def lora_targets(model: nn.Module) -> list[str]:
    """The ``target_modules`` of a hybridnets ``model`` that it contains (see the table above).

    Raises:
        ValueError: the model has none of the names (not a hybridnets backbone): give peft
            ``target_modules`` yourself.
    """
    names = [n for n, _ in model.named_modules()]
    pointwise = POINTWISE_CONV_TARGETS
    if getattr(model, "spatial_dims", 2) == 3 and not _pointwise_conv3d_merges():
        pointwise = ()
        _logger.info("LoRA: 3D pointwise convolutions left out (this peft cannot merge them)")
    found = [t for t in (*LORA_TARGET_MODULES, *pointwise) if any(_matches(n, t) for n in names)]
    if not found:
        raise ValueError(
            f"{type(model).__name__} has none of the hybridnets LoRA targets "
            f"{LORA_TARGET_MODULES + POINTWISE_CONV_TARGETS}; pass target_modules to "
            "peft.LoraConfig yourself (e.g. 'all-linear')"
        )
    return found


def _matches(name: str, target: str) -> bool:
    return name == target or name.endswith("." + target)


@functools.cache
def _pointwise_conv3d_merges() -> bool:
    """Whether the installed peft merges a LoRA on a 1×1×1 ``Conv3d`` (peft#3768)."""
    from peft import LoraConfig, get_peft_model

    net = nn.Sequential(nn.Conv3d(2, 2, 1))
    try:
        get_peft_model(net, LoraConfig(r=1, target_modules=["0"])).merge_and_unload()
    except RuntimeError:
        return False
    return True
