"""Predict with a trained classifier: ``python -m hybridnets.predict`` and
``hybridnets.load(folder).predict(data)``.

    preds = hybridnets.load("runs/x/best").predict("scans/")
    preds.to_csv("predictions.csv")
"""

from hybridnets.checkpoint.predictions import Predictions

__all__ = ["Predictions"]
