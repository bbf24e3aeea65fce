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


def test_threshold_balances_a_skewed_set_where_accuracy_would_call_everything_negative() -> None:
    """10 % positives scored a little higher than the negatives they overlap: the threshold
    that maximises accuracy is the one that calls every case negative; the balanced one
    (Youden's J) finds most positives, and the metrics report both views."""
    rng = np.random.default_rng(0)
    labels = np.array([1] * 10 + [0] * 90)
    scores = np.concatenate([rng.uniform(0.3, 0.5, 10), rng.uniform(0.0, 0.45, 90)])
    probs = np.stack([1 - scores, scores], 1)
    t = best_threshold(labels, probs)
    m = classification_metrics(labels, probs, threshold=t)
    assert m["acc"] == 0.9 and m["balanced_acc"] == 0.5  # argmax: all negative
    assert m["balanced_acc_threshold"] > 0.75 and (probs[labels == 1, 1] >= t).mean() >= 0.7
    by_accuracy = max(np.unique(scores), key=lambda c: (labels == (scores >= c)).mean())
    assert (labels == (scores >= by_accuracy)).mean() >= m["acc_threshold"]  # the trade made


def test_threshold_of_a_one_class_validation_set_is_one_half() -> None:
    probs = np.array([[0.8, 0.2], [0.3, 0.7]])
    assert best_threshold(np.array([0, 0]), probs) == 0.5
