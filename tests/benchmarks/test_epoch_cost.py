"""benchmarks/epoch_cost.py: interleaved one-epoch runs of the recipe, medians written."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import epoch_cost
import pytest


def test_models_parse_with_their_kwargs() -> None:
    models = epoch_cost.parse_models('convvit_n; monai_resnet18={"conv1_t_stride": 2}')
    assert models == {
        "convvit_n": ("convvit_n", {}),
        'monai_resnet18={"conv1_t_stride": 2}': ("monai_resnet18", {"conv1_t_stride": 2}),
    }
    with pytest.raises(argparse.ArgumentTypeError, match="must be JSON"):
        epoch_cost.parse_models("convvit_n={stride: 2}")


def test_two_models_interleaved_and_summarised(tmp_path: Path, patch_toy) -> None:
    data = patch_toy(tmp_path / "toy.npz", n_train=16, n_eval=8)
    rows = epoch_cost.main([
        "--data", str(data), "--models", 'convvit_test;convvit_test={"drop_path_rate": 0.1}',
        "--max-train-samples", "16", "--batch-size", "8", "--repeats", "2", "--out", str(tmp_path),
    ])  # fmt: skip
    assert [r["repeats"] for r in rows] == [2, 2]
    for row in rows:
        assert (
            row["wall_s"]
            == sorted(row["wall_s_all"])[0]
            + (sorted(row["wall_s_all"])[1] - sorted(row["wall_s_all"])[0]) / 2
        )  # the median of two
        assert row["images_per_s"] > 0 and row["train_s"] > 0
    written = json.loads((tmp_path / "epoch_cost.json").read_text())
    assert written["rows"] == rows and written["env"]["threads"] == 1
    assert "| convvit_test |" in (tmp_path / "epoch_cost.md").read_text()
