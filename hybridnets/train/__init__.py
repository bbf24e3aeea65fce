"""Training recipe and evaluation helpers for MedMNIST-format data (``python -m hybridnets.train``).

from hybridnets.train import TrainConfig, train
result = train(TrainConfig(model="convvit_n", data="pneumoniamnist.npz"))
"""

from hybridnets.train.config import TrainConfig
from hybridnets.train.evaluate import evaluate, predict
from hybridnets.train.metrics import best_threshold, classification_metrics
from hybridnets.train.models import (
    feature_model,
    load_trained,
    pooled_features,
    save_checkpoint,
)
from hybridnets.train.recipe import train

__all__ = [
    "TrainConfig",
    "best_threshold",
    "classification_metrics",
    "evaluate",
    "feature_model",
    "load_trained",
    "pooled_features",
    "predict",
    "save_checkpoint",
    "train",
]
