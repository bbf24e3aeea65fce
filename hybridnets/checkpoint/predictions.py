"""Class probabilities of a trained classifier on new data, and the CSV they are written to.

preds = hybridnets.load("runs/x/best").predict("scans/")
preds.to_csv("predictions.csv")      # id, prob_<class>..., predicted[, label]
preds.metrics()                      # when the data has labels: acc, balanced_acc, auc
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hybridnets.atomic import atomic_write_text
from hybridnets.data.inputs import Inputs
from hybridnets.engine.runtime import resolve_device
from hybridnets.inference import predict
from hybridnets.metrics import classification_metrics

__all__ = ["Predictions", "predict_inputs"]


@dataclass
class Predictions:
    """Probabilities ``(N, K)`` for samples ``ids``.

    Attributes:
        ids: One name per sample (``.npz``: ``split/index``; table: row number; folder: path).
        classes: Class names, the order of ``probs``' columns.
        probs: Softmax probabilities ``(N, K)``.
        labels: Known class indices ``(N,)``, or None.
        threshold: The binary decision threshold chosen on validation during training, or None.
    """

    ids: list[str]
    classes: list[str]
    probs: np.ndarray
    labels: np.ndarray | None = None
    threshold: float | None = None

    @property
    def predicted(self) -> list[str]:
        """The most probable class of each sample."""
        return [self.classes[k] for k in self.probs.argmax(1)]

    def metrics(self) -> dict[str, float]:
        """ACC, balanced ACC, AUC (and binary ``acc_threshold``) against the known labels.

        Raises:
            ValueError: The data had no labels.
        """
        if self.labels is None:
            raise ValueError("these inputs had no labels; metrics need a labelled table or .npz")
        return classification_metrics(self.labels, self.probs, self.threshold)

    def to_csv(self, path: str | Path) -> Path:
        """Write ``id, prob_<class>..., predicted`` (``predicted_at_threshold`` for a binary
        model with a threshold, ``label`` when known), atomically."""
        binary = self.threshold is not None and len(self.classes) == 2
        header = ["id", *(f"prob_{c}" for c in self.classes), "predicted"]
        header += ["predicted_at_threshold"] * binary + ["label"] * (self.labels is not None)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for i, sample in enumerate(self.ids):
            row = [sample, *(f"{p:.8g}" for p in self.probs[i]), self.predicted[i]]
            if binary:
                row.append(self.classes[int(self.probs[i, 1] >= self.threshold)])
            if self.labels is not None:
                row.append(self.classes[self.labels[i]])
            writer.writerow(row)
        return atomic_write_text(path, out.getvalue())


def predict_inputs(
    model: torch.nn.Module,
    recipe: dict[str, Any],
    inputs: Inputs,
    device: str = "auto",
    batch_size: int = 256,
    tta: str | None = None,
) -> Predictions:
    """Probabilities of ``model`` on ``inputs`` read for it (:func:`~hybridnets.data.inputs.read_inputs`), standardised
    with ``recipe``'s mean/std and sized to its ``input_size``, in batches of ``batch_size``
    (256, as the training run evaluated, so a run's own test split scores as it did), with
    test-time augmentation ``tta`` (None: the run's own, ``recipe["tta"]``)."""
    inputs.set_normalization(recipe.get("mean"), recipe.get("std"))
    where = resolve_device(device)
    model = model.to(where)
    tta = recipe.get("tta", "none") if tta is None else tta
    probs = predict(model, inputs, where, recipe["input_size"], batch_size=batch_size, tta=tta)
    labels = inputs.known_labels
    return Predictions(
        inputs.ids,
        inputs.classes,
        probs,
        labels.numpy() if labels is not None else None,
        recipe.get("threshold"),
    )
