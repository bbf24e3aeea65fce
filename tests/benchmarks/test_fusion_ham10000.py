"""benchmarks/fusion_ham10000.py: the table it writes, the metadata baseline on the recipe's
split, each arm's command, the summary table, and a clear skip without data."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import fusion_ham10000
import pytest


def test_table_and_metadata_baseline_learn_a_site_label(tmp_path: Path, ham_like) -> None:
    data = ham_like(tmp_path / "ham")
    table = fusion_ham10000.write_table(data, tmp_path / "runs" / "ham10000.csv")
    header = table.read_text().splitlines()[0]
    assert header == "image_path,dx,age,sex,localization,lesion_id"  # no dx_type
    result = fusion_ham10000.logistic_regression(table, seed=0)
    assert result["test"]["balanced_acc"] >= 0.9 and result["arm"] == "logreg"
    assert fusion_ham10000.arm_of(result) == "logreg"


def test_commands_of_image_and_fusion_arms(tmp_path: Path) -> None:
    args = fusion_ham10000.main.__globals__["argparse"].Namespace(
        input_size=64, epochs=3, max_train_samples=100, runs=tmp_path, extra=["--lr", "1e-3"]
    )
    image = fusion_ham10000.command("resnet18", 1, args, tmp_path / "t.csv")
    fused = fusion_ham10000.command("convvit_n+coattn", 1, args, tmp_path / "t.csv")
    assert "--tabular" not in image and image[image.index("--model") + 1] == "resnet18"
    assert fused[fused.index("--tabular") + 1] == "age,sex,localization"
    assert fused[fused.index("--fusion") + 1] == "coattn" and fused[-2:] == ["--lr", "1e-3"]
    assert fused[fused.index("--out") + 1] == str(tmp_path / "convvit_n_coattn__s1")


def _result(arm: str, seed: int, bacc: float) -> dict:
    model, _, fusion = arm.partition("+")
    config = {"seed": seed, "resize": 64, "epochs": 3, "max_train_samples": 100}
    config |= {"class_balance": "loss", "tabular": "age" if fusion else None, "fusion": fusion}
    test = {"balanced_acc": bacc, "auc": 0.8, "acc": 0.7}
    return {"model": model, "params": 2e6, "train_samples": 100, "wall_time_s": 10.0,
            "config": config, "test": test}  # fmt: skip


def test_summary_gives_mean_and_std_per_arm(tmp_path: Path) -> None:
    for arm in ("convvit_n", "convvit_n+cross"):
        for seed, bacc in ((0, 0.4), (1, 0.6)):
            folder = fusion_ham10000.run_folder(tmp_path, arm, seed)
            folder.mkdir(parents=True)
            (folder / "result.json").write_text(json.dumps(_result(arm, seed, bacc)))
    rows = json.loads(fusion_ham10000.summary(tmp_path, tmp_path).read_text())
    assert [r["arm"] for r in rows] == ["convvit_n", "convvit_n+cross"]
    assert rows[1]["balanced_acc"] == pytest.approx([0.5, 0.1414], abs=1e-4)
    md = (tmp_path / "fusion_ham10000.md").read_text()
    assert "| convvit_n+cross | 2.00M | 100 | 2 | 0.500 ± 0.141 |" in md and "lesion_id" in md


def test_without_data_it_says_where_it_looked(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("HAM10000_DIR", str(tmp_path / "nowhere"))
    with caplog.at_level(logging.WARNING):
        assert fusion_ham10000.main(["run", "--runs", str(tmp_path / "runs")]) == 0
    assert "no HAM10000 at" in caplog.text and "HAM10000_DIR" in caplog.text


def test_a_run_another_sweep_is_writing_is_skipped(tmp_path: Path) -> None:
    import os
    import time

    folder = tmp_path / "convvit_n__s0"
    folder.mkdir()
    assert not fusion_ham10000._running(folder)  # no log: free
    (folder / "train.log").write_text("epoch 1\n")
    assert fusion_ham10000._running(folder)
    old = time.time() - 3600
    os.utime(folder / "train.log", (old, old))  # an abandoned run is taken up again
    assert not fusion_ham10000._running(folder)
