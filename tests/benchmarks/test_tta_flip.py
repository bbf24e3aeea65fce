"""benchmarks/tta_flip.py: finished runs re-scored without and with flip TTA, paired per seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tta_flip

import hybridnets
from hybridnets.train import TrainConfig, train


def test_runs_are_rescored_without_and_with_flip_and_paired_by_seed(
    tmp_path: Path, patch_toy
) -> None:
    data = patch_toy(tmp_path / "toy.npz", n_train=16, n_eval=10)
    runs = tmp_path / "runs"
    for seed in (0, 1):
        train(TrainConfig(model="convvit_test", data=str(data), epochs=2, batch_size=8,
                          seed=seed, progress=False, num_threads=1,
                          out_dir=str(runs / f"toy__convvit_test__s{seed}")))  # fmt: skip
    (runs / "unfinished__s0").mkdir()  # no result.json: not a run
    tta_flip.main(["--runs", str(runs), "--out", str(tmp_path), "--name", "t"])
    (row,) = json.loads((tmp_path / "t.json").read_text())
    assert row["model"] == "convvit_test" and row["seeds"] == [0, 1]
    assert row["task"] == "toy, 16 px, 16 train, 2 epochs"
    results = [json.loads((runs / f"toy__convvit_test__s{s}" / "result.json").read_text())
               for s in (0, 1)]  # fmt: skip
    flips = [hybridnets.load(runs / f"toy__convvit_test__s{s}" / "best").predict(
        data, tta="flip").metrics()["auc"] for s in (0, 1)]  # fmt: skip
    assert row["auc"]["none"][0] == pytest.approx(np.mean([r["test"]["auc"] for r in results]))
    assert row["auc"]["flip"][0] == pytest.approx(np.mean(flips))
    diffs = [f - r["test"]["auc"] for f, r in zip(flips, results)]
    assert row["auc"]["delta"] == pytest.approx(np.mean(diffs))
    assert row["auc"]["se"] == pytest.approx(np.std(diffs, ddof=1) / np.sqrt(2))
    assert "| convvit_test | 2 |" in (tmp_path / "t.md").read_text()
    with pytest.raises(SystemExit, match="no finished runs"):
        tta_flip.main(["--runs", str(runs / "unfinished__s0"), "--out", str(tmp_path)])
