"""Pooled features of any model, and checkpoint folders of trained models (weights + recipe).

Models are built by the one resolver, :func:`hybridnets.resolve.create_model`.

feats = pooled_features(model, x)          # (B, num_features)
save_checkpoint(model, "runs/best", recipe={...})
model, recipe = load_trained("runs/best")
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hybridnets.atomic import atomic_write_text
from hybridnets.resolve import create_model, model_source

__all__ = [
    "RECIPE_FILE",
    "classifier_of",
    "feature_model",
    "load_trained",
    "pooled_features",
    "save_checkpoint",
]

_logger = logging.getLogger(__name__)

RECIPE_FILE = "recipe.json"
_WEIGHTS_FILE = "model.safetensors"


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


def save_checkpoint(model: nn.Module, folder: str | Path, recipe: dict[str, Any]) -> Path:
    """Save weights and ``recipe.json`` (model name, kwargs, data shape) into ``folder``.

    hybridnets models go through :func:`hybridnets.pretrained.save_pretrained` (weights and
    ``config.json``, loadable by ``hybridnets.create(pretrained=folder)``); MONAI and timm models
    and fusion classifiers (``recipe["fusion"]``) are ``model.safetensors`` of the state dict.
    Every file is written atomically.
    """
    from hybridnets.pretrained import save_pretrained, write_state_dict

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if model_source(recipe["model"]) == "hybridnets" and "fusion" not in recipe:
        save_pretrained(model, folder)
    else:
        write_state_dict(model.state_dict(), folder / _WEIGHTS_FILE)
    atomic_write_text(folder / RECIPE_FILE, json.dumps(recipe, indent=2) + "\n")
    return folder


def load_trained(folder: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_checkpoint`; returns ``(model, recipe)``.

    A fusion classifier's recipe holds its clinical preprocessing: feed it
    ``TabularPreprocessor.from_dict(recipe["tabular"]).transform(rows)`` beside the images.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    recipe = json.loads((folder / RECIPE_FILE).read_text())
    shape = (recipe["spatial_dims"], recipe["in_chans"], recipe["num_classes"])
    kwargs = recipe.get("model_kwargs", {})
    if "fusion" in recipe:
        from hybridnets.multimodal.fusion import FusionClassifier
        from hybridnets.multimodal.tabular import TabularPreprocessor

        spec = TabularPreprocessor.from_dict(recipe["tabular"]).spec
        model = FusionClassifier(
            recipe["model"], *shape, spec, recipe["fusion"], recipe["fusion_dim"], **kwargs
        )
    else:
        model = create_model(recipe["model"], *shape, **kwargs)
    model.load_state_dict(load_file(str(folder / _WEIGHTS_FILE)))
    return model.eval(), recipe
