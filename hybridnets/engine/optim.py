"""Optimiser and schedule of every recipe: AdamW on timm's parameter groups, warm-up + cosine.

optimizer = build_optimizer(model, lr=5e-4, weight_decay=0.05)
scheduler = warmup_cosine(optimizer, warmup_steps=60, total_steps=900)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import torch
from timm.optim import param_groups_layer_decay, param_groups_weight_decay
from torch import nn

__all__ = [
    "build_optimizer",
    "group_matcher_of",
    "no_weight_decay_of",
    "param_groups",
    "warmup_cosine",
]


def no_weight_decay_of(module: nn.Module, prefix: str) -> set[str]:
    """``module.no_weight_decay()`` (empty when it has none) named as a wrapper that holds it
    under ``prefix`` sees them: what a wrapper's own ``no_weight_decay`` passes on."""
    names = module.no_weight_decay() if hasattr(module, "no_weight_decay") else set()
    return {f"{prefix}.{name}" for name in names}


def _require_group_matcher(module: nn.Module) -> None:
    if not hasattr(module, "group_matcher"):
        raise ValueError(
            f"layer_decay needs a model with group_matcher(); {type(module).__name__} has none"
        )


def group_matcher_of(module: nn.Module, prefix: str, coarse: bool = False) -> dict[str, Any]:
    """``module.group_matcher(coarse)`` with every pattern moved under ``prefix``: what a
    wrapper that holds ``module`` there passes on for layer-wise LR decay. The wrapper's own
    parameters match no pattern, so timm puts them in the last (full learning rate) group.

    Raises:
        ValueError: ``module`` has no ``group_matcher`` (e.g. a MONAI ResNet).
    """
    _require_group_matcher(module)
    head = re.escape(f"{prefix}.")

    def move(pattern: str) -> str:
        return head + (pattern[1:] if pattern.startswith("^") else pattern)  # re.match anchors

    moved: dict[str, Any] = {}
    for name, spec in module.group_matcher(coarse=coarse).items():
        if isinstance(spec, str):
            moved[name] = move(spec)
        elif spec is not None:
            moved[name] = [(move(pattern), suffix) for pattern, suffix in spec]
    return moved


def param_groups(
    model: nn.Module, weight_decay: float, layer_decay: float | None = None
) -> list[dict[str, Any]]:
    """timm's AdamW parameter groups: no decay on 1-D parameters, biases and the names in
    ``model.no_weight_decay()``; with ``layer_decay``, per-layer LR scales from
    ``model.group_matcher()`` (``lr_scale`` in each group; :func:`build_optimizer` multiplies it
    into the group's learning rate)."""
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()
    if layer_decay is not None:
        _require_group_matcher(model)
        return param_groups_layer_decay(
            model, weight_decay, no_weight_decay_list=skip, layer_decay=layer_decay
        )
    return param_groups_weight_decay(model, weight_decay, no_weight_decay_list=skip)


def build_optimizer(
    model: nn.Module, lr: float, weight_decay: float, layer_decay: float | None = None
) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`, each group at ``lr`` times its ``lr_scale``."""
    groups = param_groups(model, weight_decay, layer_decay)
    for group in groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    return torch.optim.AdamW(groups, lr=lr)


def _warmup_cosine_factor(
    warmup_steps: int, total_steps: int, min_ratio: float
) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return factor


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_ratio: float = 0.01
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule: linear warm-up over ``warmup_steps`` (≥ 1), then cosine to
    ``min_ratio`` of each group's learning rate at ``total_steps``."""
    factor = _warmup_cosine_factor(max(1, warmup_steps), total_steps, min_ratio)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
