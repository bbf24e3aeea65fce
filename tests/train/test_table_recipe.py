"""The train recipe on a table of image paths with clinical columns (``--tabular``): fusion
learns a label that needs image AND table through the CLI, image-only cannot; the checkpoint
stores the clinical preprocessing and rebuilds the fused model; bad combinations are refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hybridnets.checkpoint import load_trained
from hybridnets.data.tabular import TabularPreprocessor
from hybridnets.multimodal import FusionClassifier
from hybridnets.train import TrainConfig, train
from hybridnets.train.__main__ import parse_args
from hybridnets.train.data import load_splits


def write_xor_table(folder: Path, copies: int = 3) -> Path:
    """label = XOR(bright patch, flag): a 16² image with or without a bright 6² patch in one of
    four corners, a categorical flag and an uninformative age; each image alone and each row of
    the table alone predict the label at chance. ``copies`` noisy copies of the factorial."""
    rng = np.random.default_rng(0)
    (folder / "img").mkdir()
    lines = ["path,label,flag,age,case"]
    corners = [(1, 1), (1, 9), (9, 1), (9, 9)]
    i = 0
    for copy in range(copies):
        for patch in (0, 1):
            for flag in (0, 1):
                for r, c in corners:
                    for age in (40, 55, 70):
                        x = rng.normal(50, 6, (16, 16))
                        if patch:
                            x[r : r + 6, c : c + 6] += 150
                        name = f"img/{i}.png"
                        Image.fromarray(np.clip(x, 0, 255).astype(np.uint8)).save(folder / name)
                        age_cell = "" if (i % 11 == 0) else str(age + copy)  # some missing
                        lines.append(f"{name},{patch ^ flag},{'ny'[flag]},{age_cell},c{i}")
                        i += 1
    (folder / "cases.csv").write_text("\n".join(lines) + "\n")
    return folder / "cases.csv"


def _argv(table: Path, out: Path, *extra: str) -> list[str]:
    argv = ["--model", "convvit_test", "--data", str(table), "--image-col", "path"]
    argv += ["--label-col", "label", "--group-col", "case", "--epochs", "12", "--lr", "3e-3"]
    argv += ["--batch-size", "16", "--ema-decay", "none", "--no-augment", "--warmup-epochs", "1"]
    argv += ["--input-size", "16"]
    return [*argv, "--out", str(out), "--no-progress", "--num-threads", "1", *extra]


@pytest.fixture(scope="module")
def xor_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_xor_table(tmp_path_factory.mktemp("xor"))


def test_fusion_learns_the_joint_label_and_image_alone_cannot(
    xor_table: Path, tmp_path: Path
) -> None:
    fused = train(parse_args(_argv(xor_table, tmp_path / "cross", "--tabular", "flag,age")))
    alone = train(parse_args(_argv(xor_table, tmp_path / "image")))
    assert fused["val"]["acc"] >= 0.9 and fused["test"]["balanced_acc"] >= 0.85, fused["test"]
    assert alone["val"]["acc"] <= 0.75, alone["val"]
    assert {"acc", "balanced_acc", "auc"} <= set(fused["test"])
    assert fused["table_used"] is True and alone["table_used"] is None
    assert load_trained(fused["checkpoint"])[1]["use_table"] is True


def _test_accuracy(model: torch.nn.Module, recipe: dict, config: TrainConfig) -> float:
    """ACC of a rebuilt fused ``model`` on ``config``'s test split, fed by hand."""
    _, _, test, _ = load_splits(config)
    test.set_normalization(recipe["mean"], recipe["std"])
    index = torch.arange(len(test))
    with torch.no_grad():
        probs = model(test.normalize(test.images), *test.extra_inputs(index)).softmax(-1)
    return (probs.argmax(1) == test.labels).float().mean().item()


def test_a_table_that_misleads_on_validation_is_left_out(
    tmp_path: Path, shortcut_table: Callable[[Path], Path]
) -> None:
    table = shortcut_table(tmp_path)
    argv = _argv(table, tmp_path / "run", "--tabular", "flag", "--split-col", "split")
    argv = [a for a in argv if a not in ("--group-col", "case")]
    result = train(parse_args(argv))
    history, best = result["history"], result["best_epoch"]
    assert {"val_image_loss", "val_image_auc", "val_image_acc"} <= set(history[0])
    assert result["table_used"] is False
    # the image path's own best epoch (the fused model's is the first: the shortcut's)
    image_scores = [r["val_image_loss_auc"] for r in history]
    assert best == 1 + int(np.argmin(image_scores)) > 1
    assert result["test"]["balanced_acc"] >= 0.8, result["test"]
    model, recipe = load_trained(result["checkpoint"])
    assert model.use_table is False and recipe["use_table"] is False
    assert _test_accuracy(model, recipe, parse_args(argv)) == pytest.approx(
        result["test"]["acc"], abs=1e-6
    )
    old = ["--no-table-fallback", "--out", str(tmp_path / "kept")]
    kept = parse_args([*argv, *old])  # the table always, as before issue 32
    with_table = train(kept)
    assert with_table["table_used"] is True and "val_image_loss" not in with_table["history"][0]
    assert with_table["history"][-1]["val_auc"] < 0.5  # it learned the shortcut
    assert history[best - 1]["val_image_auc"] > 0.9


@pytest.mark.parametrize("fusion", ["late", "coattn"])
def test_checkpoint_rebuilds_the_fused_model_and_its_preprocessing(
    xor_table: Path, tmp_path: Path, fusion: str
) -> None:
    extra = ("--tabular", "flag,age", "--fusion", fusion, "--epochs", "1")
    config = parse_args(_argv(xor_table, tmp_path, *extra))
    result = train(config)
    model, recipe = load_trained(result["checkpoint"])
    assert isinstance(model, FusionClassifier) and model.fusion_type == fusion
    assert recipe["classes"] == ["0", "1"] and recipe["input_size"] == 16
    pre = TabularPreprocessor.from_dict(recipe["tabular"])
    _, _, _, fitted = load_splits(config)
    assert fitted is not None and pre.to_dict() == fitted.to_dict()
    acc = _test_accuracy(model, recipe, config)
    assert acc == pytest.approx(result["test"]["acc"], abs=1e-6)


def test_table_options_need_a_table(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"tabular, group_col need a \.csv or \.parquet table"):
        TrainConfig(model="convvit_test", data="x.npz", tabular="age", group_col="patient")
    with pytest.raises(SystemExit):
        parse_args(["--model", "m", "--data", "t.csv", "--fusion", "concat"])
    columns = TrainConfig(model="m", data="t.csv", tabular=" age, sex:cat ,").tabular_columns
    assert columns == {"age": None, "sex": "cat"}
    with pytest.raises(ValueError, match="must be num or cat"):
        TrainConfig(model="m", data="t.csv", tabular="age:int")
