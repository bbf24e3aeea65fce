"""Inference on an in-memory image array: class probabilities and their metrics.

probs = predict(model, test_ds, device)                 # (N, K) softmax
metrics = evaluate(model, test_ds, device)              # {"acc": ..., "auc": ...}
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from hybridnets.data.arrays import ImageArray
from hybridnets.metrics import classification_metrics

__all__ = ["TTA", "evaluate", "predict", "scores"]

TTA = ("none", "flip")
"""Test-time augmentation: none, or flip (the mean of the softmax of each image and of its
mirror image along the last spatial axis, which the training flips make equally likely)."""


@torch.no_grad()
def predict(
    model: nn.Module,
    ds: ImageArray,
    device: torch.device,
    size: int | None = None,
    amp: bool = True,
    index: torch.Tensor | None = None,
    batch_size: int = 256,
    tta: str = "none",
) -> np.ndarray:
    """Softmax probabilities ``(N, K)`` of ``model`` on the samples ``index`` of ``ds`` (all
    by default), averaged over the views of ``tta`` (see :data:`TTA`)."""
    if tta not in TTA:
        raise ValueError(f"tta must be one of {TTA}, got {tta!r}")
    model.eval()
    index = torch.arange(len(ds)) if index is None else index
    out = []
    for batch in index.split(batch_size):
        x = ds.batch(batch, device, size)
        extra = [t.to(device) for t in ds.extra_inputs(batch)]  # clinical columns, if any
        with torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"
        ):
            probs = model(x, *extra).float().softmax(-1)
            if tta == "flip":
                probs = (probs + model(x.flip(-1), *extra).float().softmax(-1)) / 2
        out.append(probs.cpu())
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
