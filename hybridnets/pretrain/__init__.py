"""Self-supervised pretraining, 2D and 3D, on the shared engine: masked image modelling or
contrastive views."""

from hybridnets.pretrain.contrastive import ContrastiveModel
from hybridnets.pretrain.model import MASK_STYLES, MaskedImageModel, default_mask_patch
from hybridnets.pretrain.views import ContrastiveViews

__all__ = [
    "MASK_STYLES",
    "ContrastiveModel",
    "ContrastiveViews",
    "MaskedImageModel",
    "default_mask_patch",
]
