"""Classification metrics with scikit-learn: ACC and balanced accuracy (at the argmax and at a
threshold chosen on validation by balanced accuracy), and AUC.

m = classification_metrics(labels, probs)    # {"acc": ..., "balanced_acc": ..., "auc": ...}
t = best_threshold(val_labels, val_probs)            # binary only
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

__all__ = ["best_threshold", "classification_metrics"]


def classification_metrics(
    labels: np.ndarray, probs: np.ndarray, threshold: float | None = None
) -> dict[str, float]:
    """ACC of the argmax and one-vs-rest AUC (MedMNIST's definitions; the multi-class AUC is the
    macro average), and balanced accuracy (mean recall over the classes present), which an
    imbalanced set needs beside ACC.

    Args:
        labels: Integer labels ``(N,)``.
        probs: Class probabilities ``(N, K)``.
        threshold: For binary tasks, also report ``acc_threshold`` and
            ``balanced_acc_threshold``: ACC and balanced accuracy when predicting class 1 for
            ``probs[:, 1] >= threshold``.
    """
    predicted = probs.argmax(1)
    out = {
        "acc": float(accuracy_score(labels, predicted)),
        "balanced_acc": float(balanced_accuracy_score(labels, predicted)),
        "auc": float("nan"),
    }
    num_classes = probs.shape[1]
    if len(np.unique(labels)) > 1:
        if num_classes == 2:
            out["auc"] = float(roc_auc_score(labels, probs[:, 1]))
        else:
            out["auc"] = float(
                roc_auc_score(labels, probs, multi_class="ovr", labels=np.arange(num_classes))
            )
    if threshold is not None and num_classes == 2:
        at = probs[:, 1] >= threshold
        out["acc_threshold"] = float(accuracy_score(labels, at))
        out["balanced_acc_threshold"] = float(balanced_accuracy_score(labels, at))
    return out


def best_threshold(labels: np.ndarray, probs: np.ndarray) -> float:
    """The threshold on ``probs[:, 1]`` that maximises balanced accuracy (Youden's J, the mean
    of sensitivity and specificity) on these (validation) labels.

    Not accuracy: on a skewed set the accuracy-best threshold often calls every case negative
    (ACC = the prior), which is the decision a screening user can least use; the balanced one
    weighs a missed positive and a false alarm by their classes' sizes. A validation set of one
    class gives 0.5.
    """
    scores = probs[:, 1]
    candidates = np.unique(np.concatenate([scores, [0.5]]))
    positives, negatives = labels == 1, labels == 0
    if not positives.any() or not negatives.any():
        return 0.5
    youden = [(scores[positives] >= t).mean() + (scores[negatives] < t).mean() for t in candidates]
    best = np.flatnonzero(np.isclose(youden, max(youden)))
    # Among ties take the candidate closest to 0.5, so an uninformative val set keeps argmax.
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])
