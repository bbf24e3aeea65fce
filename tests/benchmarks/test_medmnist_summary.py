"""Tests for benchmarks/medmnist_summary.py: rows from run folders, seeds merged, the table."""

from __future__ import annotations

import json
from pathlib import Path

import medmnist_summary
import pytest


def _run(root: Path, name: str, seed: int, test_auc: float, epochs: int = 4) -> Path:
    folder = root / name
    folder.mkdir()
    split = {"acc": 0.8, "auc": test_auc, "acc_threshold": 0.7}
    result = {
        "data": "pneumoniamnist",
        "params": 2_500_000,
        "best_epoch": epochs,
        "threshold": 0.5,
        "val": split,
        "test": split,
        "wall_time_s": 10.4,
        "config": {"seed": seed, "epochs": epochs},
    }
    (folder / "result.json").write_text(json.dumps(result))
    probe = {"test_acc": 0.8, "test_acc_std": 0.01, "test_f1_macro": 0.7, "test_f1_macro_std": 0}
    (folder / "probe.json").write_text(json.dumps({"results": {"logreg": probe}}))
    return folder


def test_add_merges_seeds_and_replaces_a_rerun_seed(tmp_path):
    out = tmp_path / "m.json"
    runs = [_run(tmp_path, f"s{s}", s, auc) for s, auc in ((0, 0.90), (1, 0.94))]
    row = medmnist_summary.add(runs, "convvit_n", out)
    assert row["seeds"] == [0, 1]
    assert row["test_auc"] == pytest.approx([0.92, 0.02828427], rel=1e-5)
    assert row["probe_logreg_acc"] == pytest.approx([0.8, 0.0])
    assert "probe_linear_svc_acc" not in row
    row = medmnist_summary.add([_run(tmp_path, "s1b", 1, 0.96)], "convvit_n", out)
    assert row["seeds"] == [0, 1]
    assert row["test_auc"][0] == pytest.approx(0.93)
    assert len(json.loads(out.read_text())) == 1
    medmnist_summary.add([_run(tmp_path, "other", 0, 0.9, epochs=8)], "convvit_n", out)
    table = medmnist_summary.table(out).splitlines()
    assert len(table) == 4 and "| 0.930 ± 0.042 |" in table[2]


def test_add_refuses_mixed_settings(tmp_path):
    runs = [_run(tmp_path, "a", 0, 0.9), _run(tmp_path, "b", 1, 0.9, epochs=8)]
    with pytest.raises(ValueError, match="share data and epochs"):
        medmnist_summary.add(runs, "convvit_n", tmp_path / "m.json")
