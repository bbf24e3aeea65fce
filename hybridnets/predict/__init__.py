"""Predict with a trained classifier: ``python -m hybridnets.predict`` and
``hybridnets.load(folder).predict(data)``.

    preds = hybridnets.load("runs/x/best").predict("scans/")
    preds.to_csv("predictions.csv")
"""

from hybridnets.predict.predictions import Predictions, predict_checkpoint

__all__ = ["Predictions", "predict_checkpoint"]
