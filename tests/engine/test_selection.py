"""Tests for the checkpoint selectors of hybridnets.engine.selection."""

from __future__ import annotations

import math

from hybridnets.engine.selection import loss_auc, selected_index


def test_loss_auc_is_the_trailing_mean_of_loss_minus_auc() -> None:
    rows = [{"val_loss": 1.0, "val_auc": 0.6}, {"val_loss": 0.8, "val_auc": 0.7}]
    rows.append({"val_loss": 0.9, "val_auc": 0.8})
    rows.append({"val_loss": 0.5, "val_auc": 0.9})
    assert loss_auc(rows[:1]) == 1.0 - 0.6  # fewer epochs than the window: their mean
    assert math.isclose(loss_auc(rows), ((0.8 - 0.7) + (0.9 - 0.8) + (0.5 - 0.9)) / 3)


def test_one_split_val_has_no_auc_and_falls_back_to_the_loss() -> None:
    rows = [{"val_loss": v, "val_auc": float("nan")} for v in (0.9, 0.4, 0.7)]
    assert math.isclose(loss_auc(rows), (0.9 + 0.4 + 0.7) / 3)
    assert selected_index("val_loss_auc", rows) == 1  # trailing means 0.9, 0.65, 0.67


def test_an_early_calibrated_dip_does_not_win() -> None:
    """The small-split failure seen on RetinaMNIST: the loss dips on an early epoch whose
    ranking is still poor; plain val_loss keeps it, val_loss_auc keeps the later plateau."""
    loss = [1.16, 1.09, 1.037, 1.057, 1.065, 1.07, 1.06, 1.07, 1.09, 1.069, 1.066, 1.063, 1.068]
    auc = [0.77, 0.77, 0.790, 0.814, 0.813, 0.80, 0.81, 0.82, 0.80, 0.825, 0.821, 0.811, 0.803]
    history = [{"val_loss": a, "val_auc": b} for a, b in zip(loss, auc)]
    assert selected_index("val_loss", history) == 2
    assert selected_index("val_loss_auc", history) == 11  # window 9-11: best AUC at a similar loss
    assert selected_index("last", history) == len(history) - 1
