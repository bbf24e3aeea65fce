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
    model = add_lora(model, rank=8)      # the same, the classifier trained fully
    save_adapters(model, "runs/x/lora"); plain = model.merge_and_unload()
    plain = load_adapters(base_model, "runs/x/lora").merge_and_unload()   # later
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

from torch import nn

__all__ = [
    "LORA_TARGET_MODULES",
    "POINTWISE_CONV_TARGETS",
    "add_lora",
    "load_adapters",
    "lora_targets",
    "save_adapters",
]

_logger = logging.getLogger(__name__)

LORA_TARGET_MODULES = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
"""Attention projections and MLP linears of every family (module-name suffixes)."""

_BUFFERS_FILE = "buffers.safetensors"

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


def _classifier_name(model: nn.Module) -> list[str]:
    """Qualified name of ``model.get_classifier()`` when it has parameters (else none)."""
    if not hasattr(model, "get_classifier"):
        return []
    head = model.get_classifier()
    if not any(True for _ in head.parameters()):
        return []
    return [n for n, m in model.named_modules() if m is head][:1]


def add_lora(model: nn.Module, rank: int, alpha: float | None = None) -> nn.Module:
    """``model`` wrapped by ``peft`` with rank-``rank`` LoRA adapters on :func:`lora_targets`;
    the classifier trains fully (``modules_to_save``), everything else is frozen.

    Args:
        model: A hybridnets model.
        rank: Adapter rank.
        alpha: LoRA scaling numerator (default ``2 * rank``).

    Raises:
        ImportError: peft is not installed (``pip install 'hybridnets[lora]'``).
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as err:
        raise ImportError("LoRA needs peft: pip install 'hybridnets[lora]'") from err
    if rank < 1:
        raise ValueError(f"LoRA rank must be at least 1, got {rank}")
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank if alpha is None else alpha,
        target_modules=lora_targets(model),
        modules_to_save=_classifier_name(model),
        lora_dropout=0.0,
    )
    return get_peft_model(model, config)


def save_adapters(model: nn.Module, folder: str | Path) -> Path:
    """Write the adapters (and fully trained modules) of a peft ``model`` alone, atomically, in
    peft's layout (``adapter_model.safetensors``, ``adapter_config.json``), plus the base
    model's buffers (``buffers.safetensors``: batch-norm statistics keep following the data
    while the weights are frozen). :func:`load_adapters` puts them back on the base model."""
    from peft import get_peft_model_state_dict

    from hybridnets.atomic import atomic_write_text
    from hybridnets.pretrained import write_state_dict

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_state_dict(get_peft_model_state_dict(model), folder / "adapter_model.safetensors")
    buffers = dict(model.get_base_model().named_buffers())
    write_state_dict(buffers, folder / _BUFFERS_FILE)
    config = model.peft_config["default"].to_dict()
    config["target_modules"] = sorted(config["target_modules"] or [])
    config["modules_to_save"] = list(config.get("modules_to_save") or []) or None
    text = json.dumps(config, indent=2, default=str)
    atomic_write_text(folder / "adapter_config.json", text + "\n")
    return folder


def load_adapters(base: nn.Module, folder: str | Path) -> nn.Module:
    """``base`` (the weights the adapters were trained from) with the buffers and adapters of
    ``folder`` (written by :func:`save_adapters`): a peft model; ``.merge_and_unload()`` gives
    the plain fine-tuned model."""
    from peft import PeftModel
    from safetensors.torch import load_file

    folder = Path(folder)
    buffers = load_file(str(folder / _BUFFERS_FILE))
    missing = set(buffers) - {n for n, _ in base.named_buffers()}
    if missing:
        raise ValueError(f"{folder} holds buffers {sorted(missing)[:3]} that the base model lacks")
    base.load_state_dict(buffers, strict=False)
    return PeftModel.from_pretrained(base, folder)
