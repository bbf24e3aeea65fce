"""Self-supervised pretraining by masked image modelling, 2D and 3D, on the shared engine."""

from hybridnets.pretrain.model import MASK_STYLES, MaskedImageModel, default_mask_patch

__all__ = ["MASK_STYLES", "MaskedImageModel", "default_mask_patch"]
