"""Smoke tests for hybridnets.train.recipe: one tiny epoch in 2D (real data) and 3D (toy)."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

import hybridnets
from hybridnets.train import TrainConfig, load_trained, train
from hybridnets.train.__main__ import parse_args
from hybridnets.train.recipe import param_groups, stratified_subset


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


@pytest.mark.parametrize("name", ["convvit_test", "convswin_test", "cbamnext_test"])
@pytest.mark.parametrize("layer_decay", [None, 0.75])
def test_no_weight_decay_on_1d_and_no_weight_decay_names(name, layer_decay) -> None:
    model = hybridnets.create(name, num_classes=2)
    groups = param_groups(model, 0.05, layer_decay)
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert len(decay_of) == len(params)  # every parameter exactly once
    skip = model.no_weight_decay()
    assert skip == {n for n in params if n.endswith("relative_position_bias_table")}
    assert bool(skip) == (name != "cbamnext_test")  # attention models have tables
    for n, p in params.items():
        expected = 0.0 if (p.ndim <= 1 or n in skip) else 0.05
        assert decay_of[id(p)] == expected, n
    if layer_decay is not None:  # the stem learns slowest, the head at the full rate
        scale_of = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
        assert scale_of[id(params["head.fc.weight"])] == 1.0
        stem = scale_of[id(next(p for n, p in params.items() if n.startswith("stem")))]
        assert stem == min(scale_of.values()) < 0.25


def test_stratified_subset_keeps_class_proportions() -> None:
    labels = torch.tensor([0] * 730 + [1] * 270)
    index = stratified_subset(labels, 100, torch.Generator().manual_seed(0))
    assert len(index) == len(set(index.tolist())) == 100
    assert torch.bincount(labels[index]).tolist() == [73, 27]


def test_help_describes_every_option_with_its_default(capsys) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for f in fields(TrainConfig):
        flag = {"out_dir": "--out"}.get(f.name, "--" + f.name.replace("_", "-"))
        if f.type == "bool" and f.default:
            flag = "--no-" + flag[2:]
        assert flag in text, flag
    assert "(default: 0.998)" in text and "class-weighted cross-entropy" in text
    assert parse_args(["--model", "m", "--data", "d", "--ema-decay", "none"]).ema_decay is None


def test_bad_choices_are_refused() -> None:
    with pytest.raises(ValueError, match="class_balance must be one of"):
        TrainConfig(model="m", data="d", class_balance="weights")
    with pytest.raises(SystemExit):
        parse_args(["--model", "m", "--data", "d", "--select", "best"])
