"""The pretraining recipe: its folder loads everywhere, it resumes, its CLI documents itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import hybridnets
from hybridnets.checkpoint import CHECKPOINT_FILE
from hybridnets.engine import setup_runtime
from hybridnets.pretrain.__main__ import build_parser
from hybridnets.pretrain.config import PretrainConfig
from hybridnets.pretrain.recipe import STATE_FILE, pretrain
from hybridnets.train import recipe as train_recipe
from hybridnets.train.config import TrainConfig


def _toy(path: Path, spatial_dims: int = 2, n: int = 24, size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "val", "test"):
        images = rng.integers(0, 255, (n, *[size] * spatial_dims), dtype=np.uint8)
        arrays |= {f"{split}_images": images, f"{split}_labels": (np.arange(n) % 2)[:, None]}
    np.savez(path, **arrays)
    return path


def _config(data: Path, out: Path, **kwargs) -> PretrainConfig:
    settings = dict(model="convvit_test", data=str(data), out_dir=str(out), epochs=2)
    settings |= dict(batch_size=8, progress=False, num_threads=1, decoder_dim=16)
    return PretrainConfig(**(settings | kwargs))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_round_trip_pretrain_save_create_train(tmp_path: Path, spatial_dims) -> None:
    data = _toy(tmp_path / "toy.npz", spatial_dims, n=16)
    out = tmp_path / "mim"
    result = pretrain(_config(data, out))
    assert result["epochs_run"] == 2 and np.isfinite(result["final_loss"])
    assert result["images_per_s"] > 0
    for name in ("model.safetensors", "config.json", CHECKPOINT_FILE, "result.json"):
        assert (out / name).is_file(), name
    assert not (out / STATE_FILE).exists()
    saved = load_file(str(out / "model.safetensors"))

    model = hybridnets.create(
        "convvit_test", pretrained=str(out), spatial_dims=spatial_dims, in_chans=1, num_classes=2
    )
    for key, value in saved.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model.pretrained_cfg["tag"] == "convvit_test.mim"

    config = TrainConfig(model="convvit_test", data=str(data), pretrained=str(out), epochs=1)
    run = train_recipe._setup(config, torch.Generator().manual_seed(0), setup_runtime("cpu"))
    start = run.engine.module.state_dict()
    for key, value in saved.items():
        assert torch.equal(start[key], value), key  # the train recipe starts from exactly them
    assert run.recipe["pretrained"] == str(out)


def test_contrastive_objective_round_trip(tmp_path: Path) -> None:
    """--objective contrastive trains, lowers its loss and saves an encoder the train recipe
    starts from (the projection head is dropped)."""
    data = _toy(tmp_path / "toy.npz", n=32)
    out = tmp_path / "simclr"
    result = pretrain(_config(data, out, objective="contrastive", epochs=3, proj_dim=16))
    losses = [row["train_loss"] for row in result["history"]]
    assert result["recipe"]["objective"] == "contrastive" and result["recipe"]["mask_patch"] is None
    assert all(np.isfinite(losses)) and losses[0] < np.log(2 * 8)  # 8 pairs: ln(16) at chance
    saved = load_file(str(out / "model.safetensors"))
    assert not any(k.startswith("projector") for k in saved)
    model = hybridnets.create("convvit_test", pretrained=str(out), in_chans=1, num_classes=2)
    assert model.pretrained_cfg["tag"] == "convvit_test.contrastive"
    for key, value in saved.items():
        assert torch.equal(model.state_dict()[key], value), key
    with pytest.raises(ValueError, match="objective must be one of"):
        _config(data, out, objective="byol")
    with pytest.raises(ValueError, match="temperature must be positive"):
        _config(data, out, objective="contrastive", temperature=0)


def test_interrupted_pretraining_resumes_to_the_same_weights(
    tmp_path: Path, crash_after_saves
) -> None:
    data = _toy(tmp_path / "toy.npz", n=16)
    full = pretrain(_config(data, tmp_path / "full", epochs=3))
    out = tmp_path / "cut"
    with crash_after_saves(2), pytest.raises(KeyboardInterrupt):
        pretrain(_config(data, out, epochs=3))
    assert (out / STATE_FILE).is_file() and not (out / "model.safetensors").exists()
    with pytest.raises(ValueError, match=r"other settings \(mask_ratio: .*`resume=False`"):
        pretrain(_config(data, out, epochs=3, mask_ratio=0.5))
    resumed = pretrain(_config(data, out, epochs=3))
    assert [r["train_loss"] for r in resumed["history"]] == [
        r["train_loss"] for r in full["history"]
    ]
    a, b = (
        load_file(str(out / "model.safetensors")),
        load_file(str(tmp_path / "full/model.safetensors")),
    )
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_batchnorm_is_recalibrated_on_clean_images(tmp_path: Path) -> None:
    data = _toy(tmp_path / "toy.npz", n=16)
    off = pretrain(_config(data, tmp_path / "off", epochs=1, recalibrate_batchnorm=0))
    on = pretrain(_config(data, tmp_path / "on", epochs=1))
    assert off["recipe"]["batchnorm_recalibrated_layers"] == 0
    assert on["recipe"]["batchnorm_recalibrated_layers"] > 0
    a, b = (
        load_file(str(tmp_path / "off/model.safetensors")),
        load_file(str(tmp_path / "on/model.safetensors")),
    )
    stats = [k for k in a if k.endswith("running_mean")]
    assert stats and any(not torch.equal(a[k], b[k]) for k in stats)
    weights = [k for k in a if k.endswith("weight")]
    assert all(torch.equal(a[k], b[k]) for k in weights)  # only the statistics differ


def test_non_hybridnets_model_is_refused(tmp_path: Path) -> None:
    data = _toy(tmp_path / "toy.npz", n=8)
    with pytest.raises(ValueError, match=r"built for hybridnets models.*timm model"):
        pretrain(_config(data, tmp_path / "x", model="resnet18"))


def test_help_describes_every_option_with_its_default() -> None:
    text = build_parser().format_help()
    for option in (
        "--mask-ratio",
        "--mask-style",
        "--mask-patch",
        "--recalibrate-batchnorm",
        "--decoder-depth",
        "--out",
        "--no-resume",
        "--input-size",
    ):
        assert option in text, option
    assert "(default: 0.6)" in text and "{token,dense}" in text
    with pytest.raises(ValueError, match="mask_style must be one of"):
        PretrainConfig(model="m", data="d", mask_style="sparse")


def test_the_saved_encoder_keeps_the_stem_of_its_input_size(tmp_path: Path, monkeypatch) -> None:
    """A model whose stem follows the input size (here convvit_test given convvit_n's kind of
    rule) is pretrained and saved with that stem; the folder rebuilds it."""
    from hybridnets import registry

    monkeypatch.setitem(registry._INPUT_KWARGS, "convvit_test", (32, {"stem_stride": 4}))
    data = _toy(tmp_path / "toy.npz", n=16, size=32)
    result = pretrain(_config(data, tmp_path / "mim", epochs=1))
    assert result["recipe"]["mask_patch"] == 4  # the default patch follows the stem
    model = hybridnets.create(pretrained=str(tmp_path / "mim"))
    assert model.feature_info[0]["reduction"] == 4
    # fine-tuned below the rule's size, the network stays the one its weights were trained as
    config = TrainConfig(
        model="convvit_test", data=str(data), pretrained=str(tmp_path / "mim"), input_size=16
    )
    run = train_recipe._setup(config, torch.Generator().manual_seed(0), setup_runtime("cpu"))
    assert run.recipe["model_kwargs"] == {"stem_stride": 4}
    assert run.engine.module.feature_info[0]["reduction"] == 4
