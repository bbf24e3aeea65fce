"""Checkpoint selection: which epoch's weights a run keeps, from its validation scores.

is_better("val_loss_auc", score, best)     # does this epoch beat the best so far?
selected_index("val_auc", history)         # which epoch a selector keeps, after the fact
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SELECT", "SMOOTH_EPOCHS", "is_better", "loss_auc", "selected_index"]

SELECT = ("last", "val_auc", "val_loss", "val_loss_auc")
"""Selectors: the last epoch, the best validation AUC, loss, or loss minus AUC (smoothed)."""
SMOOTH_EPOCHS = 3  # the val_loss_auc selector's window


def loss_auc(
    history: list[dict[str, Any]], window: int = SMOOTH_EPOCHS, prefix: str = "val_"
) -> float:
    """The ``val_loss_auc`` selector's score of the latest epoch (lower is better): validation
    loss minus validation AUC, averaged over the last ``window`` epochs of ``history`` (the
    ``<prefix>loss`` and ``<prefix>auc`` entries: ``"val_image_"`` scores a task's rival).

    Each validation number alone is noisy on a split of a hundred images: the loss can dip
    on an early, well-calibrated epoch whose ranking is still poor, and the AUC jumps with a
    few samples. Their difference rewards both ranking and calibration, and the trailing mean
    needs an epoch to be good with its neighbours. An AUC that is undefined (one class in the
    split) counts as 0 in every epoch alike.
    """
    rows = history[-window:]
    return sum(r[f"{prefix}loss"] - _or_zero(r[f"{prefix}auc"]) for r in rows) / len(rows)


def _or_zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def is_better(select: str, score: dict[str, float], best: dict[str, float] | None) -> bool:
    """Whether validation ``score`` beats ``best`` under selector ``select`` (see SELECT;
    ``val_loss_auc`` compares the ``loss_auc`` entry, see :func:`loss_auc`)."""
    if best is None or select == "last":
        return True
    if select == "val_loss_auc":
        return score["loss_auc"] < best["loss_auc"]
    if select == "val_auc":  # ties (a saturated AUC on a tiny split) go to the lower loss
        return score["auc"] > best["auc"] or (
            score["auc"] == best["auc"] and score["loss"] < best["loss"]
        )
    return score["loss"] < best["loss"]


def selected_index(select: str, history: list[dict[str, Any]]) -> int:
    """The index in a run's ``history`` of the epoch ``select`` keeps (what the recipe's loop
    picks as the epochs arrive; for analysing selectors on ``--log-test`` histories)."""
    best, chosen = None, len(history) - 1
    for i, row in enumerate(history):
        score = {
            "loss": row["val_loss"],
            "auc": row["val_auc"],
            "loss_auc": loss_auc(history[: i + 1]),
        }
        if is_better(select, score, best):
            best, chosen = score, i
    return chosen
