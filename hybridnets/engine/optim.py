"""Optimiser and schedule of every recipe: AdamW on timm's parameter groups, warm-up + cosine.

optimizer = build_optimizer(model, lr=5e-4, weight_decay=0.05)
scheduler = warmup_cosine(optimizer, warmup_steps=60, total_steps=900)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from timm.optim import param_groups_layer_decay, param_groups_weight_decay
from torch import nn

from hybridnets.models.delegate import require_group_matcher

__all__ = [
    "build_optimizer",
    "param_groups",
    "warmup_cosine",
]


def param_groups(
    model: nn.Module, weight_decay: float, layer_decay: float | None = None
) -> list[dict[str, Any]]:
    """timm's AdamW parameter groups: no decay on 1-D parameters, biases and the names in
    ``model.no_weight_decay()``; with ``layer_decay``, per-layer LR scales from
    ``model.group_matcher()`` (``lr_scale`` in each group; :func:`build_optimizer` multiplies it
    into the group's learning rate)."""
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()
    if layer_decay is not None:
        require_group_matcher(model)
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
