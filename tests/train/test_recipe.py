"""Smoke tests for hybridnets.train.recipe: one tiny epoch in 2D (real data) and 3D (toy)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from hybridnets.train import TrainConfig, load_trained, train
from hybridnets.train.__main__ import parse_args


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


def test_one_epoch_2d_real_data(tmp_path: Path, medmnist_file) -> None:
    data = medmnist_file("pneumoniamnist.npz")
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
