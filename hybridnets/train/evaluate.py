"""Predictions, metrics and the checkpoint selector of the supervised recipe.

probs = predict(model, test_ds, device)                 # (N, K) softmax
metrics = evaluate(model, test_ds, device)              # {"acc": ..., "auc": ...}
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from hybridnets.data.arrays import ImageArray
from hybridnets.train.batches import prepare
from hybridnets.train.metrics import classification_metrics

__all__ = [
    "SMOOTH_EPOCHS",
    "evaluate",
    "is_better",
    "loss_auc",
    "predict",
    "scores",
    "selected_index",
]

SMOOTH_EPOCHS = 3  # the val_loss_auc selector's window


@torch.no_grad()
def predict(
    model: nn.Module,
    ds: ImageArray,
    device: torch.device,
    size: int | None = None,
    amp: bool = True,
    index: torch.Tensor | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Softmax probabilities ``(N, K)`` of ``model`` on the samples ``index`` of ``ds`` (all
    by default)."""
    model.eval()
    index = torch.arange(len(ds)) if index is None else index
    out = []
    for batch in index.split(batch_size):
        x = prepare(ds, batch, size, device)
        extra = [t.to(device) for t in ds.extra_inputs(batch)]  # clinical columns, if any
        with torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"
        ):
            logits = model(x, *extra)
        out.append(logits.float().softmax(-1).cpu())
    return torch.cat(out).numpy()


def evaluate(
    model: nn.Module, ds: ImageArray, device: torch.device, size: int | None = None, **kwargs: Any
) -> dict[str, float]:
    """ACC and AUC of ``model`` on ``ds``."""
    return classification_metrics(ds.labels.numpy(), predict(model, ds, device, size, **kwargs))


def scores(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """ACC, AUC and the mean cross-entropy (no smoothing) of predicted ``probs``."""
    loss = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean()
    return classification_metrics(labels, probs) | {"loss": float(loss)}


def loss_auc(history: list[dict[str, Any]], window: int = SMOOTH_EPOCHS) -> float:
    """The ``val_loss_auc`` selector's score of the latest epoch (lower is better): validation
    loss minus validation AUC, averaged over the last ``window`` epochs of ``history``.

    Each validation number alone is noisy on a split of a hundred images: the loss can dip
    on an early, well-calibrated epoch whose ranking is still poor, and the AUC jumps with a
    few samples. Their difference rewards both ranking and calibration, and the trailing mean
    needs an epoch to be good with its neighbours. An AUC that is undefined (one class in the
    split) counts as 0 in every epoch alike.
    """
    rows = history[-window:]
    return sum(r["val_loss"] - _or_zero(r["val_auc"]) for r in rows) / len(rows)


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
