"""Resolve a model name to hybridnets, MONAI or timm; pooled features; checkpoint folders.

model = build_model("monai_resnet18", spatial_dims=3, in_chans=1, num_classes=2)
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

__all__ = [
    "RECIPE_FILE",
    "build_model",
    "feature_model",
    "load_trained",
    "model_source",
    "pooled_features",
    "save_checkpoint",
]

_logger = logging.getLogger(__name__)

RECIPE_FILE = "recipe.json"
_WEIGHTS_FILE = "model.safetensors"
_MONAI_PREFIX = "monai_"


def model_source(name: str) -> str:
    """``"hybridnets"``, ``"monai"`` or ``"timm"``: where ``name`` is built from."""
    import hybridnets

    if hybridnets.is_model(name):
        return "hybridnets"
    if name.startswith(_MONAI_PREFIX):
        return "monai"
    return "timm"


def build_model(
    name: str, spatial_dims: int, in_chans: int, num_classes: int, **kwargs: Any
) -> nn.Module:
    """Build ``name`` as a hybridnets model, else ``monai_<net>`` from MONAI, else timm (2D).

    Args:
        name: ``convvit_n`` (hybridnets), ``monai_resnet18`` (``monai.networks.nets.resnet18``)
            or any timm model name.
        spatial_dims: 2 or 3.
        in_chans: Input channels.
        num_classes: Output classes.
        **kwargs: Extra constructor arguments (e.g. ``stem_stride=1``, ``img_size=28``).
    """
    source = model_source(name)
    if source == "hybridnets":
        import hybridnets

        return hybridnets.create(
            name, spatial_dims=spatial_dims, in_chans=in_chans, num_classes=num_classes, **kwargs
        )
    if source == "monai":
        from monai.networks import nets

        net = name.removeprefix(_MONAI_PREFIX)
        if not net.startswith("resnet") or not hasattr(nets, net):
            raise ValueError(
                f"unknown MONAI model {name!r}; supported: monai_resnet{{10,18,34,50}}"
            )
        return getattr(nets, net)(
            spatial_dims=spatial_dims, n_input_channels=in_chans, num_classes=num_classes, **kwargs
        )
    import timm

    if spatial_dims != 2:
        raise ValueError(
            f"timm model {name!r} is 2D only; use a hybridnets model or monai_resnet18 for 3D"
        )
    if not timm.is_model(name):
        raise ValueError(f"{name!r} is neither a hybridnets, monai_* nor timm model")
    return timm.create_model(name, in_chans=in_chans, num_classes=num_classes, **kwargs)


def feature_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose forward gives pooled pre-logit features ``(B, F)``."""
    if hasattr(model, "forward_head"):
        return _PreLogits(model)
    if hasattr(model, "fc"):  # MONAI ResNet: avgpool -> flatten -> fc
        model = copy.deepcopy(model)
        model.fc = nn.Identity()
        return model
    raise TypeError(f"don't know how to take pooled features from {type(model).__name__}")


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

    hybridnets models go through :func:`hybridnets.pretrained.save_pretrained` when it is
    available; everything else (and the fallback) is ``model.safetensors`` of the state dict.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    saved = False
    if model_source(recipe["model"]) == "hybridnets":
        try:
            from hybridnets.pretrained import save_pretrained
        except ImportError:
            _logger.info("hybridnets.pretrained.save_pretrained not available; saving safetensors")
        else:
            try:
                save_pretrained(model, folder)
                saved = (folder / _WEIGHTS_FILE).is_file()
            except ValueError as err:  # e.g. a model built without hybridnets.create
                _logger.warning("save_pretrained failed (%s); saving safetensors", err)
    if not saved:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(folder / _WEIGHTS_FILE))
    (folder / RECIPE_FILE).write_text(json.dumps(recipe, indent=2))
    return folder


def load_trained(folder: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_checkpoint`; returns ``(model, recipe)``."""
    from safetensors.torch import load_file

    folder = Path(folder)
    recipe = json.loads((folder / RECIPE_FILE).read_text())
    model = build_model(
        recipe["model"],
        spatial_dims=recipe["spatial_dims"],
        in_chans=recipe["in_chans"],
        num_classes=recipe["num_classes"],
        **recipe.get("model_kwargs", {}),
    )
    model.load_state_dict(load_file(str(folder / _WEIGHTS_FILE)))
    return model.eval(), recipe
