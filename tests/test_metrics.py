"""Tests for hybridnets.metrics."""

from __future__ import annotations

import numpy as np

from hybridnets.metrics import best_threshold, classification_metrics


def test_metrics_and_threshold() -> None:
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.65, 0.35], [0.2, 0.8]])
    m = classification_metrics(labels, probs, threshold=best_threshold(labels, probs))
    assert m["acc"] == 0.75 and m["auc"] == 1.0 and m["acc_threshold"] == 1.0


def test_multiclass_auc() -> None:
    labels = np.array([0, 1, 2, 2])
    probs = np.eye(3)[labels] * 0.7 + 0.1
    m = classification_metrics(labels, probs, threshold=0.5)
    assert m["acc"] == 1.0 and m["auc"] == 1.0 and "acc_threshold" not in m
