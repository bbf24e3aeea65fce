"""Pooled features and the classifier layer of any model (hybridnets, timm or MONAI).

feats = pooled_features(model, x)          # (B, num_features)
head = classifier_of(model)                # the final nn.Linear, or None
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn

__all__ = ["classifier_of", "feature_model", "pooled_features"]

_logger = logging.getLogger(__name__)


def feature_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose forward gives pooled pre-logit features ``(B, F)``."""
    if hasattr(model, "forward_head"):
        return _PreLogits(model)
    if hasattr(model, "fc"):  # MONAI ResNet: avgpool -> flatten -> fc
        model = copy.deepcopy(model)
        model.fc = nn.Identity()
        return model
    raise TypeError(f"don't know how to take pooled features from {type(model).__name__}")


def classifier_of(model: nn.Module) -> nn.Linear | None:
    """The final linear layer of a classifier (timm's ``get_classifier()``, MONAI's ``fc``), or
    None when it is not one ``nn.Linear`` (no classifier, or another kind of head)."""
    head = (
        model.get_classifier() if hasattr(model, "get_classifier") else getattr(model, "fc", None)
    )
    return head if isinstance(head, nn.Linear) else None


class _PreLogits(nn.Module):
    """timm-interface model -> ``forward_head(forward_features(x), pre_logits=True)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


@torch.no_grad()
def pooled_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pooled pre-logit features ``(B, F)`` of a batch ``(B, C, *S)`` (model in eval mode)."""
    return feature_model(model).eval()(x).flatten(1)
