"""Tests for benchmarks/small_data.py: which runs a sweep makes, and the summary files."""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import small_data

from hybridnets.train import TrainConfig


def _binary_file(path: Path, positives: int, negatives: int) -> Path:
    labels = np.array([1] * positives + [0] * negatives, dtype=np.uint8)[:, None]
    images = np.arange(len(labels), dtype=np.uint8)[:, None, None] * np.ones((1, 4, 4), np.uint8)
    splits = {f"{s}_images": images for s in ("train", "val", "test")}
    np.savez(path, **splits, **{f"{s}_labels": labels for s in ("train", "val", "test")})
    return path


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _binary_file(tmp_path / "pneumoniamnist.npz", positives=30, negatives=70)  # no retina file
    _binary_file(tmp_path / "adrenalmnist3d.npz", positives=20, negatives=80)
    monkeypatch.setenv("MEDMNIST_DIR", str(tmp_path))
    return tmp_path


def test_with_prevalence_keeps_negatives_and_subsamples_positives(tmp_path: Path) -> None:
    src = _binary_file(tmp_path / "a.npz", positives=30, negatives=89)
    dst = small_data.with_prevalence(src, tmp_path / "out" / "a11.npz", 0.11)
    with np.load(dst) as data:
        for split in ("train", "val", "test"):
            labels, images = data[f"{split}_labels"][:, 0], data[f"{split}_images"]
            assert (labels == 0).sum() == 89 and (labels == 1).sum() == 11
            assert (images[:, 0, 0] == np.sort(images[:, 0, 0])).all()  # order kept
            assert set(images[labels == 1, 0, 0]) <= set(range(30))  # real positives
    assert [p.name for p in dst.parent.iterdir()] == ["a11.npz"]  # no temporary left
    np.savez(tmp_path / "m.npz", train_images=np.zeros((1, 2, 2)), train_labels=np.array([[2]]))
    with pytest.raises(ValueError, match="binary labels"):
        small_data.with_prevalence(tmp_path / "m.npz", tmp_path / "m11.npz", 0.11)


def test_with_val_size_draws_a_stratified_validation_split(tmp_path: Path) -> None:
    src = _binary_file(tmp_path / "p.npz", positives=30, negatives=70)
    dst = small_data.with_val_size(src, tmp_path / "out" / "p78.npz", 20)
    with np.load(src) as before, np.load(dst) as after:
        labels = after["val_labels"][:, 0]
        assert (labels == 1).sum() == 6 and (labels == 0).sum() == 14  # the 30 % kept
        assert (after["val_images"][:, 0, 0] == np.sort(after["val_images"][:, 0, 0])).all()
        for key in ("train_images", "train_labels", "test_images", "test_labels"):
            assert np.array_equal(before[key], after[key])
    assert [p.name for p in dst.parent.iterdir()] == ["p78.npz"]
    with pytest.raises(ValueError, match="val size"):
        small_data.with_val_size(src, tmp_path / "big.npz", 100)


def test_configs_match_dims_and_use_the_recipe_defaults(data_dir: Path, tmp_path: Path) -> None:
    configs = small_data.configs(
        list(small_data.SETTINGS), ["convvit_n", "resnet18", "monai_resnet18"], [0, 1], tmp_path
    )
    runs = {Path(c.out_dir).relative_to(tmp_path).as_posix(): c for c in configs}
    names = sorted(runs)
    assert "pneumonia_500__convvit_n__s1" in names and "adrenal3d__monai_resnet18__s0" in names
    derived = runs["adrenal3d_11pct__convvit_n__s0"].data  # on its derived copy
    assert derived == str(tmp_path / "data" / "adrenal3d_11pct.npz")
    assert not any(n.startswith("retina") for n in names)  # its file is missing: skipped
    assert not any("adrenal3d__resnet18" in n or "pneumonia__monai" in n for n in names)
    val78 = runs["pneumonia_500_val78__resnet18__s0"].data
    assert val78 == str(tmp_path / "data" / "pneumonia_500_val78.npz")
    config = runs["pneumonia_500__convvit_n__s1"]
    default = TrainConfig(model=config.model, data=config.data)  # what a new user gets
    changed = {
        f.name for f in fields(config) if getattr(config, f.name) != getattr(default, f.name)
    }
    assert changed == {
        "epochs",  # fixed per setting; the recipe derives them when not given
        "max_train_samples",
        "seed",
        "out_dir",
        "num_threads",
        "progress",
        "log_test",
    }
    assert (config.max_train_samples, config.seed, config.log_test) == (500, 1, True)


def test_a_run_has_the_settings_of_its_former_command_line(
    data_dir: Path, tmp_path: Path, parse_old_command
) -> None:
    """The "before" anchor: the config of a run equals what the sweep's command line of that
    run parsed into before the sweep built configs."""
    (config,) = small_data.configs(["pneumonia_500"], ["convvit_n (v0.1 layout)"], [1], tmp_path)
    folder = tmp_path / "pneumonia_500__convvit_n__v0_1_layout__s1"
    before = [sys.executable, "-m", "hybridnets.train", "--data", str(data_dir / "pneumoniamnist.npz"),
              "--model", "convvit_n", "--model-kwargs",
              '{"block_types": ["C", "C", "W", "G"], "stem_type": "patch", "downsample": "patch"}',
              "--epochs", "30", "--max-train-samples", "500", "--seed", "1", "--out", str(folder),
              "--num-threads", "1", "--no-progress", "--log-test"]  # fmt: skip
    assert config == parse_old_command(before)


def test_run_hands_each_config_to_the_recipe_once(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    monkeypatch.setattr(small_data, "run_recipe", lambda config, log: calls.append((config, log)))
    done = tmp_path / "runs" / "adrenal3d__convvit_n__s0"
    done.mkdir(parents=True)
    (done / "result.json").write_text("{}")  # finished: not run again
    argv = [
        "run",
        "--settings",
        "adrenal3d",
        "--models",
        "convvit_n",
        "--seeds",
        "0,1",
        "--jobs",
        "1",
    ]
    small_data.main([*argv, "--runs", str(tmp_path / "runs")])
    [(config, log)] = calls
    assert config.seed == 1 and config.epochs == 10
    assert log == tmp_path / "runs" / "adrenal3d__convvit_n__s1" / "train.log"


def test_run_reads_labels_whose_own_commas_sit_in_parentheses(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    monkeypatch.setattr(small_data, "run_recipe", lambda config, log: calls.append(config))
    models = "convvit_n (intensity 0.2, no TTA),resnet18 (mixup 0.2, no TTA)"
    argv = ["run", "--settings", "pneumonia", "--models", models, "--seeds", "0", "--jobs", "1"]
    small_data.main([*argv, "--runs", str(tmp_path / "runs")])
    assert sorted((c.model, c.intensity, c.mixup, c.tta) for c in calls) == [
        ("convvit_n", 0.2, 0.0, "none"),
        ("resnet18", 0.0, 0.2, "none"),
    ]


def _run(
    folder: Path, seed: int, auc: float, multiclass: bool = False, balanced: bool = True
) -> None:
    folder.mkdir(parents=True)
    history = [
        {
            "epoch": e,
            "val_acc": 0.8,
            "val_auc": 0.95 if e == 1 else 0.9,
            "val_loss": 1.0 - 0.1 * e,
            "test_acc": 0.7,
            "test_auc": auc - 0.1 * (e < 3),
        }
        for e in range(1, 4)
    ]
    split = {"acc": 0.8, "auc": auc} | ({} if multiclass else {"acc_threshold": 0.8})
    split |= {"balanced_acc": 0.75} if balanced else {}  # False: as written before it existed
    result = {
        "data": "pneumoniamnist",
        "params": 3_000_000,
        "best_epoch": 3,
        "threshold": 0.5,
        "val": split,
        "test": split,
        "wall_time_s": 60.0,
        "config": {"seed": seed, "epochs": 30, "select": "val_loss", "patience": None},
        "history": history,
    }
    (folder / "result.json").write_text(json.dumps(result))


def test_summary_rows_table_selectors_and_plot(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    out.mkdir()
    for seed, auc in ((0, 0.9), (1, 0.94), (2, 0.92)):
        _run(runs / small_data.run_name("pneumonia_500", "convvit_n", seed), seed, auc)
    _run(runs / small_data.run_name("pneumonia_500", "resnet18", 0), 0, 0.8)
    _run(
        runs / small_data.run_name("retina", "resnet18", 0), 0, 0.7, multiclass=True, balanced=False
    )
    rows = json.loads(small_data.summary(runs, out).read_text())
    row = next(r for r in rows if r["model"] == "convvit_n [pneumonia_500]")
    assert row["seeds"] == [0, 1, 2] and np.isclose(row["test_auc"][0], 0.92)
    table = (out / "small_data_table.md").read_text()
    row = (
        "| pneumonia_500 | convvit_n | 3.00M | 3 | 0.800 ± 0.000 | 0.920 ± 0.020 | 0.750 ± 0.000 |"
    )
    assert row + " 60 |" in table
    selectors = "| pneumonia_500 | convvit_n | 0.700 / 0.920 | 0.700 / 0.820 | 0.700 / 0.920 |"
    assert selectors + " 0.700 / 0.920 |" in table  # last, val_auc, val_loss, val_loss_auc
    assert "| retina | resnet18 | 3.00M | 1 | 0.800 ± 0.000 | 0.700 ± 0.000 | – | 60 |" in table
    assert (out / "small_data_auc_vs_params.png").stat().st_size > 1000
    small_data.main(["summary", "--runs", str(runs), "--out", str(out), "--name", "other"])
    assert json.loads((out / "other.json").read_text()) == rows  # the recorded sweep kept
    assert (out / "other_table.md").read_text() == table
    assert sorted(p.name for p in out.iterdir()) == [
        "other.json", "other_auc_vs_params.png", "other_table.md",
        "small_data.json", "small_data_auc_vs_params.png", "small_data_table.md",
    ]  # fmt: skip


def test_summary_reselects_runs_made_with_another_selector(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    out.mkdir()
    for seed, auc in ((0, 0.9), (1, 0.94)):
        _run(runs / small_data.run_name("pneumonia_500", "convvit_n", seed), seed, auc)
    rows = json.loads(small_data.summary(runs, out, select="val_auc").read_text())
    row = rows[0]  # val AUC peaks at epoch 1, where the test AUC was 0.1 lower
    assert row["best_epoch"] == [1, 1] and np.isclose(row["test_auc"][0], 0.82)
    assert "test_acc_threshold" not in row  # needs the probabilities, not in the history
    assert all(r["reselected"] == "val_auc" for r in row["runs"])
    rows = json.loads(small_data.summary(runs, out, select="val_loss").read_text())
    assert rows[0]["best_epoch"] == [3, 3] and "test_acc_threshold" in rows[0]  # as run


def test_summary_keeps_a_models_runs_apart_from_a_label_that_extends_its_name(tmp_path) -> None:
    """``convvit_n`` runs are ``<setting>__convvit_n__s<seed>``; the runs of the label
    ``convvit_n (stage-2 expansion 2)`` (``..__convvit_n__stage_2_expansion_2__s0``) share that
    prefix and must not be counted as ``convvit_n``'s."""
    runs, out = tmp_path / "runs", tmp_path / "out"
    out.mkdir()
    _run(runs / small_data.run_name("pneumonia_500", "convvit_n", 0), 0, 0.9)
    wider = "convvit_n (stage-2 expansion 2)"
    _run(runs / small_data.run_name("pneumonia_500", wider, 0), 0, 0.5)
    _run(runs / small_data.run_name("pneumonia_500", wider, 1), 1, 0.5)
    rows = {r["model"]: r for r in json.loads(small_data.summary(runs, out).read_text())}
    assert rows["convvit_n [pneumonia_500]"]["seeds"] == [0]
    assert rows[f"{wider} [pneumonia_500]"]["seeds"] == [0, 1]


def test_compare_puts_fixed_and_derived_epochs_side_by_side(tmp_path: Path) -> None:
    for setting, epochs, auc in (("retina", 30, 0.70), ("retina_auto", 47, 0.75)):
        for seed in (0, 1):
            folder = tmp_path / small_data.run_name(setting, "resnet18", seed)
            folder.mkdir()
            test = {"acc": 0.5, "balanced_acc": 0.4, "auc": auc + seed / 100}
            result = {"config": {"epochs": epochs, "seed": seed}, "best_epoch": epochs - seed,
                      "wall_time_s": 100.0 * epochs / 30, "test": test}  # fmt: skip
            (folder / "result.json").write_text(json.dumps(result))
    rows = json.loads(small_data.compare_epochs(tmp_path, tmp_path).read_text())
    assert [(r["setting"], r["model"]) for r in rows] == [("retina", "resnet18")]
    fixed, derived = rows[0]["fixed"], rows[0]["derived"]
    assert (fixed["epochs"], derived["epochs"], derived["best_epoch"]) == (30, 47, [47, 46])
    assert derived["auc"] == pytest.approx([0.755, 0.00707], abs=1e-5)
    md = (tmp_path / "auto_epochs.md").read_text()
    assert "| retina | resnet18 | 47 | 2 | 0.500 ± 0.000 | 0.400 ± 0.000 | 0.755 ± 0.007 |" in md
    assert "0.531 / 0.750" in md  # the published row beside it
    recorded = [{"model": "convvit_n [retina]", "epochs": 30, "seeds": [0, 1], "best_epoch": [9, 12],
                 "wall_time_s": [50, 70], "test_acc": [0.5, 0.01], "test_auc": [0.7, 0.02]}]  # fmt: skip
    (tmp_path / "small_data.json").write_text(json.dumps(recorded))
    folder = tmp_path / small_data.run_name("retina_auto", "convvit_n", 0)
    folder.mkdir()
    (folder / "result.json").write_text(
        (tmp_path / "retina_auto__resnet18__s0/result.json").read_text()
    )
    rows = json.loads(small_data.compare_epochs(tmp_path, tmp_path).read_text())
    fixed = next(r["fixed"] for r in rows if r["model"] == "convvit_n")
    assert fixed["source"] == "small_data.json" and fixed["balanced_acc"] is None
    assert fixed["auc"] == [0.7, 0.02] and fixed["wall_time_s"] == 60
    assert (
        "| retina | convvit_n | 30 | 2 | 0.500 ± 0.010 | - | 0.700 ± 0.020 |"
        in (tmp_path / "auto_epochs.md").read_text()
    )


def test_compare_adds_the_candidate_rule_where_it_ran(tmp_path: Path) -> None:
    for setting, epochs in (("retina_500", 30), ("retina_500_auto", 100), ("retina_500_25k", 50)):
        folder = tmp_path / small_data.run_name(setting, "resnet18", 0)
        folder.mkdir()
        test = {"acc": epochs / 200, "balanced_acc": 0.4, "auc": 0.7}
        result = {"config": {"epochs": epochs, "seed": 0}, "best_epoch": 9, "wall_time_s": 1.0,
                  "test": test}  # fmt: skip
        (folder / "result.json").write_text(json.dumps(result))
    (row,) = json.loads(small_data.compare_epochs(tmp_path, tmp_path).read_text())
    assert [row[a]["epochs"] for a in small_data.ARMS] == [30, 100, 50]
    assert row["derived_25k"]["acc"] == [0.25, 0.0]
    assert (
        "| retina_500 | resnet18 | 50 | 1 | 0.250 ± 0.000 |"
        in (tmp_path / "auto_epochs.md").read_text()
    )
