"""hybridnets: hybrid CNN-attention backbones for medical imaging, 2D and 3D.

import hybridnets
model = hybridnets.create("convvit_s", spatial_dims=3, in_chans=1, num_classes=2)
probs = hybridnets.load("runs/x/best").predict("new_scans/")   # a trained run's classifier
"""

from hybridnets import models as models  # registers the model families
from hybridnets import pretrained as pretrained
from hybridnets.checkpoint import Checkpoint, load
from hybridnets.pretrained import list_pretrained, load_pretrained, save_pretrained
from hybridnets.registry import input_size_kwargs, is_model, list_models, register_model
from hybridnets.resolve import create_model

create = create_model
"""``hybridnets.create`` is :func:`hybridnets.resolve.create_model` (hybridnets, MONAI, timm)."""

__version__ = "0.1.0"

__all__ = [
    "Checkpoint",
    "__version__",
    "create",
    "create_model",
    "input_size_kwargs",
    "is_model",
    "list_models",
    "list_pretrained",
    "load",
    "load_pretrained",
    "pretrained",
    "register_model",
    "save_pretrained",
]
