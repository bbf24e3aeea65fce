"""A wrapper model's timm optimiser interface, passed on from the model it holds: the names its
``no_weight_decay()`` and the patterns its ``group_matcher()`` give, moved under the wrapper's
attribute name (fusion classifiers, image towers, image–text models).

    def no_weight_decay(self): return no_weight_decay_of(self.backbone, "backbone")
    def group_matcher(self, coarse=False): return group_matcher_of(self.backbone, "backbone", coarse)
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn

__all__ = ["group_matcher_of", "no_weight_decay_of", "require_group_matcher"]


def no_weight_decay_of(module: nn.Module, prefix: str) -> set[str]:
    """``module.no_weight_decay()`` (empty when it has none) named as a wrapper that holds it
    under ``prefix`` sees them: what a wrapper's own ``no_weight_decay`` passes on."""
    names = module.no_weight_decay() if hasattr(module, "no_weight_decay") else set()
    return {f"{prefix}.{name}" for name in names}


def require_group_matcher(module: nn.Module) -> None:
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
    require_group_matcher(module)
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
