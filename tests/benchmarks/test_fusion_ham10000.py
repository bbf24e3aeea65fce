"""benchmarks/fusion_ham10000.py: the table it writes, the metadata baseline on the recipe's
split, each arm's command, the summary table, and a clear skip without data."""

from __future__ import annotations

import json
import logging
import sys
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


def test_configs_of_image_and_fusion_arms(tmp_path: Path) -> None:
    argv = ["run", "--runs", str(tmp_path), "--epochs", "3", "--max-train-samples", "100"]
    args = fusion_ham10000.build_parser().parse_args([*argv, "--extra", "--lr 1e-3"])
    image = fusion_ham10000.config("resnet18", 1, args, tmp_path / "t.csv")
    fused = fusion_ham10000.config("convvit_n+coattn", 1, args, tmp_path / "t.csv")
    assert image.tabular is None and image.model == "resnet18"
    assert fused.tabular == "age,sex,localization" and fused.fusion == "coattn"
    assert fused.lr == 1e-3 and fused.class_balance == "none"  # --extra replaces its default
    assert fused.out_dir == str(tmp_path / "convvit_n_coattn__s1")
    assert (fused.epochs, fused.max_train_samples, fused.input_size) == (3, 100, 64)
    args = fusion_ham10000.build_parser().parse_args([*argv, "--max-train-samples", "0"])
    assert fusion_ham10000.config("resnet18", 0, args, tmp_path / "t.csv").max_train_samples is None
    args = fusion_ham10000.build_parser().parse_args([*argv, "--extra", "--epochs 7"])
    assert fusion_ham10000.config("resnet18", 0, args, tmp_path / "t.csv").epochs == 7  # last


def test_a_run_has_the_settings_of_its_former_command_line(
    tmp_path: Path, parse_old_command
) -> None:
    """The "before" anchor: the config of a fusion arm with the sweep's defaults equals what the
    sweep's command line of that run parsed into before the sweep built configs."""
    args = fusion_ham10000.build_parser().parse_args(["run", "--runs", str(tmp_path)])
    table = tmp_path / "ham10000.csv"
    config = fusion_ham10000.config("convvit_n+cross", 2, args, table)
    before = [sys.executable, "-m", "hybridnets.train", "--model", "convvit_n", "--data", str(table),
              "--image-col", "image_path", "--label-col", "dx", "--group-col", "lesion_id",
              "--allow-outside-paths", "--tabular", "age,sex,localization", "--fusion", "cross",
              "--input-size", "64", "--epochs", "12", "--seed", "2", "--max-train-samples", "2000",
              "--out", str(tmp_path / "convvit_n_cross__s2"), "--num-threads", "1", "--no-progress",
              "--class-balance", "loss"]  # fmt: skip
    assert config == parse_old_command(before)


def test_extra_options_the_recipe_does_not_take_are_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        fusion_ham10000.build_parser().parse_args(["run", "--extra", "--class-balance often"])
    err = capsys.readouterr().err
    assert "--extra" in err and "python -m hybridnets.train" in err and "often" in err


def _result(arm: str, seed: int, bacc: float) -> dict:
    model, _, fusion = arm.partition("+")
    config = {"seed": seed, "resize": 64, "epochs": 3, "max_train_samples": 100}
    config |= {"class_balance": "loss", "tabular": "age" if fusion else None, "fusion": fusion}
    config |= {"table_fallback": True, "table_dropout": 0.0}
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
    argv = ["summary", "--runs", str(tmp_path), "--out", str(tmp_path), "--name", "other"]
    assert fusion_ham10000.main(argv) == 0
    assert json.loads((tmp_path / "other.json").read_text()) == rows


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


def test_qualified_arms_read_the_shuffled_table_or_keep_the_table_always(
    tmp_path: Path, ham_like
) -> None:
    table = fusion_ham10000.write_table(ham_like(tmp_path / "ham"), tmp_path / "ham10000.csv")
    shuffled = fusion_ham10000.shuffled_table(table, table.with_name(fusion_ham10000.SHUFFLED))
    rows = [line.split(",") for line in table.read_text().splitlines()]
    moved = [line.split(",") for line in shuffled.read_text().splitlines()]
    assert rows[0] == moved[0] and len(rows) == len(moved)
    assert [r[:2] + r[5:] for r in rows] == [r[:2] + r[5:] for r in moved]  # path, dx, lesion
    assert sorted(r[2:5] for r in rows[1:]) == sorted(r[2:5] for r in moved[1:])
    assert [r[2:5] for r in rows[1:]] != [r[2:5] for r in moved[1:]]
    args = fusion_ham10000.build_parser().parse_args(["run", "--runs", str(tmp_path)])
    new = fusion_ham10000.config("convvit_n+cross~shuffled", 0, args, table)
    old = fusion_ham10000.config("convvit_n+cross~always", 0, args, table)
    assert Path(new.data) == shuffled and new.table_fallback and new.table_dropout == 0.0
    assert Path(old.data) == table and not old.table_fallback and old.table_dropout == 0.0
    dropout = fusion_ham10000.config("convvit_n+cross~dropout", 0, args, table)
    assert dropout.table_fallback and dropout.table_dropout == 0.25
    assert old.out_dir == str(tmp_path / "convvit_n_cross_always__s0")
    arms = ("convvit_n+cross~shuffled", "convvit_n+cross~always", "convvit_n+cross",
            "convvit_n+cross~dropout~shuffled")  # fmt: skip
    for arm in arms:
        config = fusion_ham10000.config(arm, 0, args, table)
        result = {"model": "convvit_n", "config": json.loads(json.dumps(vars(config)))}
        assert fusion_ham10000.arm_of(result) == arm
    with pytest.raises(ValueError, match="qualifiers"):
        fusion_ham10000.config("convvit_n~always", 0, args, table)
