"""One config vocabulary: the recipes share their parts' fields (one name per idea), metadata
feeds choices, flags, aliases, the resume check and --help; --config re-runs a run folder."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from hybridnets.align.__main__ import build_parser as align_parser
from hybridnets.align.config import AlignConfig
from hybridnets.engine import cli
from hybridnets.engine.config import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    field_metadata,
    result_free,
)
from hybridnets.pretrain.__main__ import build_parser as pretrain_parser
from hybridnets.pretrain.config import PretrainConfig
from hybridnets.train.__main__ import build_parser as train_parser
from hybridnets.train.__main__ import parse_args
from hybridnets.train.config import TrainConfig

RECIPES = [TrainConfig, AlignConfig, PretrainConfig]
PARSERS = {TrainConfig: train_parser, AlignConfig: align_parser, PretrainConfig: pretrain_parser}


@pytest.mark.parametrize("config", RECIPES, ids=lambda c: c.__name__)
def test_every_recipe_has_the_shared_parts_and_documents_every_field(config) -> None:
    names = {f.name for f in fields(config)}
    for part in (RunConfig, ModelConfig, DataConfig, OptimConfig):
        assert {f.name for f in fields(part)} <= names, part.__name__
    assert set(cli.field_help(config)) >= names
    shared = {"out_dir", "progress", "num_threads", "resume", "overwrite", "fsdp",
              "grad_checkpointing", "allow_outside_paths"}  # fmt: skip
    assert set(result_free(config)) == shared
    text = PARSERS[config]().format_help()
    for title in ("The model a run trains", "Optimisation", "Where and how a run executes"):
        assert title in text


def test_one_name_per_idea_across_recipes() -> None:
    train, align = {f.name for f in fields(TrainConfig)}, {f.name for f in fields(AlignConfig)}
    assert {"image_col", "label_col", "input_size"} <= train & align
    assert not {"image_column", "resize"} & (train | align)


def test_choices_minimums_and_aliases() -> None:
    with pytest.raises(ValueError, match="select must be one of"):
        TrainConfig(model="m", data="d.npz", select="best")
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        TrainConfig(model="m", data="d.npz", batch_size=0)
    with pytest.raises(ValueError, match="`patience` needs a selector other than last"):
        TrainConfig(model="m", data="d.npz", select="last", patience=3)
    assert parse_args(["--model", "m", "--data", "d.npz", "--resize", "32"]).input_size == 32
    argv = ["--model", "m", "--data", "d.csv", "--image-column", "path"]
    assert cli.parse_config(AlignConfig, align_parser(), argv).image_col == "path"
    assert field_metadata(TrainConfig, "out_dir")["flag"] == "--out"


def test_config_file_gives_defaults_that_options_override(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(
        json.dumps({"model": "convvit_n", "data": "x.npz", "lr": 0.01})
    )
    config = parse_args(["--config", str(tmp_path / "run.json"), "--lr", "0.002"])
    assert (config.model, config.data, config.lr) == ("convvit_n", "x.npz", 0.002)
    (tmp_path / "run.toml").write_text('model = "convvit_n"\ndata = "x.npz"\nepochs = 3\n')
    assert parse_args(["--config", str(tmp_path / "run.toml")]).epochs == 3
    (tmp_path / "bad.json").write_text(json.dumps({"model": "m", "data": "x", "lrate": 1}))
    with pytest.raises(SystemExit):
        parse_args(["--config", str(tmp_path / "bad.json")])


def test_a_run_folder_re_runs_from_its_run_config(tmp_path: Path, patch_toy) -> None:
    data = patch_toy(tmp_path / "toy.npz", n_train=12, n_eval=8)
    common = ["--num-threads", "1", "--no-progress"]
    first = ["--model", "convvit_test", "--data", str(data), "--epochs", "1", "--batch-size", "4"]
    run = [sys.executable, "-m", "hybridnets.train"]
    subprocess.run([*run, *first, "--out", str(tmp_path / "a"), *common], check=True,
                   capture_output=True)  # fmt: skip
    again = ["--config", str(tmp_path / "a" / "run_config.json"), "--out", str(tmp_path / "b")]
    subprocess.run([*run, *again], check=True, capture_output=True)
    a = load_file(str(tmp_path / "a" / "best" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "best" / "model.safetensors"))
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    saved = json.loads((tmp_path / "b" / "run_config.json").read_text())
    assert saved["out_dir"] == str(tmp_path / "b") and saved["epochs"] == 1


def test_architecture_is_the_size_rule_then_model_kwargs_and_build_adds_how_a_run_starts() -> None:
    config = TrainConfig(model="convvit_n", data="d", drop_path_rate=0.1, pretrained="w")
    assert config.architecture(28) == {}
    assert config.architecture((64, 64)) == {"stem_stride": 4}
    assert config.build_kwargs((64, 64)) == {
        "stem_stride": 4, "drop_path_rate": 0.1, "pretrained": "w"
    }  # fmt: skip
    assert config.build_kwargs(28, load_weights=False) == {"drop_path_rate": 0.1}
    mine = TrainConfig(model="convvit_n", data="d", model_kwargs={"stem_stride": 2, "dims": [1]})
    assert mine.architecture((64, 64)) == {"stem_stride": 2, "dims": [1]}  # the user's win
    monai = TrainConfig(model="monai_resnet18", data="d", drop_path_rate=0.1)
    assert monai.build_kwargs((64, 64, 64)) == {}  # MONAI ResNets take no stochastic depth


def test_a_pretrained_folder_brings_its_own_architecture_instead_of_the_size_rule(tmp_path):
    """Weights trained with the 28-px stem stay on it at 64 px and the 64-px stem stays at
    28 px; the user's model_kwargs still win, and a source that records nothing (a tag, a
    file) or another model's folder leaves the size rule."""
    import hybridnets
    from hybridnets.pretrained import save_pretrained

    for stride in (2, 4):
        model = hybridnets.create("convvit_n", in_chans=1, num_classes=0, stem_stride=stride)
        save_pretrained(model, tmp_path / f"s{stride}")

    def at(folder, size, **kwargs):
        config = TrainConfig(model="convvit_n", data="d", pretrained=str(folder), **kwargs)
        return config.architecture(size)

    assert at(tmp_path / "s2", (64, 64)) == {"stem_stride": 2}
    assert at(tmp_path / "s4", 28) == {"stem_stride": 4}
    assert at(tmp_path / "s2", (64, 64), model_kwargs={"stem_stride": 4}) == {"stem_stride": 4}
    assert at("in1k", (64, 64)) == {"stem_stride": 4}
    other = TrainConfig(model="convvit_t", data="d", pretrained=str(tmp_path / "s2"))
    assert other.architecture((64, 64)) == {}
