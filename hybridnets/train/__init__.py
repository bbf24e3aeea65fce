"""Supervised training recipe for MedMNIST-format data and image tables (``python -m hybridnets.train``).

from hybridnets.train import TrainConfig, train
result = train(TrainConfig(model="convvit_n", data="pneumoniamnist.npz"))
"""

from hybridnets.train.config import TrainConfig
from hybridnets.train.models import classifier_of, feature_model, pooled_features
from hybridnets.train.recipe import train

__all__ = [
    "TrainConfig",
    "classifier_of",
    "feature_model",
    "pooled_features",
    "train",
]
