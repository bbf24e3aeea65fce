"""Smoke tests for hybridnets.train: one tiny epoch in 2D (real data) and 3D (synthetic)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hybridnets.train import (
    TrainConfig,
    best_threshold,
    build_model,
    classification_metrics,
    load_trained,
    pooled_features,
    train,
)
from hybridnets.train.__main__ import parse_args

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _toy_3d(path: Path, n: int = 24, size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "val", "test"):
        labels = np.arange(n, dtype=np.uint8) % 2
        images = rng.integers(0, 64, (n, size, size, size), dtype=np.uint8)
        images[labels == 1, 4:12, 4:12, 4:12] += 128  # a bright cube marks class 1
        arrays |= {f"{split}_images": images, f"{split}_labels": labels[:, None]}
    np.savez(path, **arrays)
    return path


def _check_result(result: dict, out: Path) -> None:
    saved = json.loads((out / "result.json").read_text())
    assert saved["epochs_run"] == 1 and saved["params"] > 0 and saved["wall_time_s"] > 0
    for split in ("val", "test"):
        for metric in ("acc", "auc", "acc_threshold"):
            assert math.isfinite(saved[split][metric]) and 0 <= saved[split][metric] <= 1
    model, recipe = load_trained(result["checkpoint"])
    assert sum(p.numel() for p in model.parameters()) == result["params"]
    assert recipe["model"] == result["model"]


def test_one_epoch_2d_real_data(tmp_path: Path) -> None:
    data = DATA / "pneumoniamnist.npz"
    if not data.is_file():
        pytest.skip(f"{data} not available")
    config = TrainConfig(
        model="test_resnet",
        data=str(data),
        out_dir=str(tmp_path),
        epochs=1,
        batch_size=32,
        max_train_samples=64,
        progress=False,
        ema_decay=0.9,
    )
    _check_result(train(config), tmp_path)


def test_one_epoch_3d_hybridnets(tmp_path: Path) -> None:
    argv = ["--model", "convvit_test", "--data", str(_toy_3d(tmp_path / "toy3d.npz"))]
    argv += ["--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8"]
    config = parse_args([*argv, "--no-progress", "--num-threads", "1"])
    result = train(config)
    _check_result(result, tmp_path / "run")
    assert (Path(result["checkpoint"]) / "config.json").is_file()  # via save_pretrained


@pytest.mark.parametrize(
    ("name", "spatial_dims", "kwargs"),
    [
        ("resnet18", 2, {}),
        ("monai_resnet10", 3, {"widen_factor": 0.25}),
        ("convvit_test", 2, {}),
        ("convvit_test", 3, {}),
    ],
)
def test_build_and_pool(name: str, spatial_dims: int, kwargs: dict) -> None:
    model = build_model(name, spatial_dims, in_chans=1, num_classes=3, **kwargs)
    x = torch.rand(2, 1, *([16] * spatial_dims))
    assert model(x).shape == (2, 3)
    feats = pooled_features(model, x)
    assert feats.ndim == 2 and feats.shape[0] == 2 and feats.shape[1] > 3


def test_build_errors() -> None:
    with pytest.raises(ValueError, match="2D only"):
        build_model("resnet18", 3, 1, 2)
    with pytest.raises(ValueError, match="neither"):
        build_model("no_such_model", 2, 1, 2)


def test_metrics_and_threshold() -> None:
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.65, 0.35], [0.2, 0.8]])
    m = classification_metrics(labels, probs, threshold=best_threshold(labels, probs))
    assert m["acc"] == 0.75 and m["auc"] == 1.0 and m["acc_threshold"] == 1.0
