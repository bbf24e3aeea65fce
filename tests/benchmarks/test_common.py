"""Tests for benchmarks/_common.py: models through the library resolver, input sizes, tables,
and recipe runs from configs."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import _common
import pytest
import torch

from hybridnets.align.config import AlignConfig
from hybridnets.pretrain.config import PretrainConfig
from hybridnets.train import TrainConfig


@pytest.mark.parametrize(
    ("text", "spatial_dims", "size"),
    [
        ("224", None, (224, 224)),
        ("224", 3, (224, 224, 224)),
        ("96,96,96", None, (96, 96, 96)),
        ("96x96x64", 3, (96, 96, 64)),
        ("256,192", 2, (256, 192)),
    ],
)
def test_parse_input_size(text: str, spatial_dims: int | None, size: tuple[int, ...]) -> None:
    assert _common.parse_input_size(text, spatial_dims) == size


@pytest.mark.parametrize(("text", "spatial_dims"), [("96,96,96", 2), ("0", None), ("a", None)])
def test_parse_input_size_rejects(text: str, spatial_dims: int | None) -> None:
    with pytest.raises(ValueError):
        _common.parse_input_size(text, spatial_dims)


def test_model_for_input_builds_each_library_in_eval_mode() -> None:
    ours = _common.model_for_input("convvit_test", (32, 32, 32), 1, 2)
    assert ours.spatial_dims == 3 and not ours.training
    resnet = _common.model_for_input("monai_resnet18", (16, 16, 16), 1, 2)
    assert resnet.fc.out_features == 2
    vit = _common.model_for_input("test_vit", (32, 32), 1, 3)  # img_size passed on to timm
    assert vit.patch_embed.img_size == (32, 32)
    assert _common.model_for_input("resnet18", (32, 32), 3).fc.out_features == 1000
    with pytest.raises(ValueError, match="2D only"):
        _common.model_for_input("resnet18", (16, 16, 16), 1)


def test_default_models_skip_test_variants() -> None:
    names = _common.default_models(3)
    assert "convvit_t" in names and "convvit_test" not in names
    assert names[-len(_common.DEFAULT_PEERS_3D) :] == list(_common.DEFAULT_PEERS_3D)


def test_markdown_table() -> None:
    table = _common.markdown_table(
        [{"model": "a", "x": 1.234, "y": None}], [("model", "m"), ("x", "X"), ("y", "Y")]
    )
    assert table.splitlines() == ["| m | X | Y |", "|---|---:|---:|", "| a | 1.23 | - |"]
    cells = _common.md_table(["a", "b"], [["x", 2], [_common.plus_minus([0.5, 0.1414]), 1.5]])
    assert cells.splitlines() == ["| a | b |", "|---|---|", "| x | 2 |", "| 0.500 ± 0.141 | 1.5 |"]
    assert _common.plus_minus(_common.mean_std(v for v in (2.0, 4.0)), 1) == "3.0 ± 1.4"
    assert _common.mean_std([7.0]) == [7.0, 0.0]


def test_cpu_threads() -> None:
    assert _common.cpu_threads("3") == 3
    assert 1 <= _common.cpu_threads("auto") <= torch.get_num_threads()


def test_run_logged_writes_the_output_and_returns_the_status(tmp_path) -> None:
    log = tmp_path / "new" / "run.log"
    code = "import sys; print('hello'); sys.exit(3)"
    assert _common.run_logged([sys.executable, "-c", code], log) == 3
    assert _common.run_logged([sys.executable, "-c", "print('again')"], log, mode="a") == 0
    assert log.read_text().split() == ["hello", "again"]


def test_recipe_module_of_each_config() -> None:
    assert _common.recipe_module(TrainConfig) == "hybridnets.train"
    assert _common.recipe_module(PretrainConfig) == "hybridnets.pretrain"
    assert _common.recipe_module(AlignConfig) == "hybridnets.align"


def test_run_recipe_trains_from_the_config_file_beside_its_log(tmp_path: Path, patch_toy) -> None:
    """One epoch of ``convvit_test`` by ``python -m hybridnets.train --config``: the run's own
    ``run_config.json`` is the config file written beside the log, field for field."""
    data = patch_toy(tmp_path / "toy.npz")
    folder = tmp_path / "runs" / "a"
    config = TrainConfig(model="convvit_test", data=str(data), epochs=1, batch_size=8,
                         out_dir=str(folder), device="cpu", num_threads=1, progress=False,
                         log_test=True, model_kwargs={"drop_path_rate": 0.0})  # fmt: skip
    log = folder / "train.log"
    assert _common.run_recipe(config, log) == 0, log.read_text()[-3000:]
    written = json.loads((folder / "train.config.json").read_text())
    assert written == dataclasses.asdict(config)
    assert json.loads((folder / "run_config.json").read_text()) == written
    result = json.loads((folder / "result.json").read_text())
    assert len(result["history"]) == 1 and "test_auc" in result["history"][0]  # log_test
    assert '"test"' in log.read_text()  # the recipe's JSON summary went to the log


def test_run_recipe_returns_the_status_of_a_refused_run(tmp_path: Path, patch_toy) -> None:
    config = TrainConfig(model="no_such_model", data=str(patch_toy(tmp_path / "toy.npz")),
                         epochs=1, out_dir=str(tmp_path / "run"), progress=False)  # fmt: skip
    log = tmp_path / "logs" / "bad.log"
    assert _common.run_recipe(config, log) == 2
    assert (tmp_path / "logs" / "bad.config.json").is_file() and "error:" in log.read_text()


def test_recipe_overrides_are_parsed_by_the_recipes_own_parser() -> None:
    flags = ["--class-balance", "loss", "--no-prior-bias", "--resize", "32", "--ema-decay", "none"]
    assert _common.recipe_overrides(TrainConfig, flags) == {
        "class_balance": "loss",
        "prior_bias": False,
        "input_size": 32,  # through the alias
        "ema_decay": None,
    }
    assert _common.recipe_overrides(AlignConfig, ["--text-lora-rank", "8"]) == {"text_lora_rank": 8}
    assert _common.recipe_overrides(TrainConfig, []) == {}
    with pytest.raises(ValueError, match="unrecognized arguments: --no-such 1"):
        _common.recipe_overrides(TrainConfig, ["--no-such", "1"])
    with pytest.raises(ValueError, match="invalid choice: 'sideways'"):
        _common.recipe_overrides(TrainConfig, ["--fusion", "sideways"])
    with pytest.raises(ValueError, match="--config"):
        _common.recipe_overrides(TrainConfig, ["--config", "other.json"])
    parse = _common.recipe_options(TrainConfig)
    text = """--lr 1e-3 --model-kwargs '{"img_size": 28}'"""  # quoted as a shell would
    assert parse(text) == {"lr": 1e-3, "model_kwargs": {"img_size": 28}}
    with pytest.raises(argparse.ArgumentTypeError, match=r"python -m hybridnets.train: .*--epochs"):
        parse("--epochs many")
