"""Checkpoint folders: what every recipe saves, and ``load(folder)`` that reads any of them.

ckpt = hybridnets.load("runs/x/best")          # Checkpoint(kind, model, recipe, folder)
preds = ckpt.predict("scans/")                 # classifiers: probabilities on new data
"""

from hybridnets.checkpoint.aligned import load_aligned, save_aligned, save_image_tower
from hybridnets.checkpoint.classifier import load_trained, save_checkpoint
from hybridnets.checkpoint.folder import KINDS, Checkpoint, CheckpointKindError, load
from hybridnets.checkpoint.record import CHECKPOINT_FILE, read_record, write_record

__all__ = [
    "CHECKPOINT_FILE",
    "KINDS",
    "Checkpoint",
    "CheckpointKindError",
    "load",
    "load_aligned",
    "load_trained",
    "read_record",
    "save_aligned",
    "save_checkpoint",
    "save_image_tower",
    "write_record",
]
