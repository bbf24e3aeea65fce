"""The recipe with its defaults must learn a learnable toy (disc vs ring), 2D and 3D."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hybridnets.checkpoint import load_trained
from hybridnets.data import MedMNIST
from hybridnets.inference import evaluate
from hybridnets.train import TrainConfig, train

_TOY = {2: dict(size=24, n_train=256, epochs=12), 3: dict(size=16, n_train=160, epochs=12)}


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_convvit_test_learns_disc_vs_ring(tmp_path: Path, toy_npz, spatial_dims: int) -> None:
    toy = _TOY[spatial_dims]
    data = toy_npz(spatial_dims, toy["size"], toy["n_train"])
    config = TrainConfig(
        model="convvit_test",
        data=str(data),
        out_dir=str(tmp_path / "run"),
        epochs=toy["epochs"],
        progress=False,
        num_threads=1,
    )
    result = train(config)
    model, recipe = load_trained(result["checkpoint"])
    train_split = MedMNIST(data, "train", mean=recipe["mean"], std=recipe["std"])
    train_acc = evaluate(model, train_split, torch.device("cpu"))["acc"]
    assert train_acc >= 0.9, (train_acc, result["history"][-1])
    assert result["test"]["acc"] >= 0.85, result["test"]  # and it generalises to fresh toys
