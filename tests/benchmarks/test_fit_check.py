"""benchmarks/fit_check.py: a model fits an easy toy subset; errors for non-binary data."""

from __future__ import annotations

import json
from pathlib import Path

import fit_check
import numpy as np
import pytest


def _toy(path: Path, classes: int = 2, n: int = 64) -> Path:
    rng = np.random.default_rng(0)
    labels = np.arange(n, dtype=np.uint8) % classes
    images = rng.integers(0, 64, (n, 16, 16), dtype=np.uint8)
    images[labels == 1, 4:12, 4:12] += 160  # a bright square marks class 1
    arrays = {}
    for split in ("train", "val", "test"):
        arrays |= {f"{split}_images": images, f"{split}_labels": labels[:, None]}
    np.savez(path, **arrays)
    return path


def test_fits_an_easy_subset(tmp_path, capsys):
    data = _toy(tmp_path / "toy.npz")
    result = fit_check.main(
        ["--model", "convvit_test", "--data", str(data), "--steps", "20", "--batch-size", "16"]
    )
    assert result["samples"] == 64 and result["steps"] == 20
    assert result["train_auc"] > 0.95
    assert json.loads(capsys.readouterr().out)["train_auc"] == result["train_auc"]


def test_refuses_multiclass(tmp_path):
    with pytest.raises(ValueError, match="binary AUC"):
        fit_check.fit_check("convvit_test", str(_toy(tmp_path / "toy3.npz", classes=3)), steps=1)
