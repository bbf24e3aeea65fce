"""``hybridnets.load(folder)`` for every kind a recipe writes, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import hybridnets
from hybridnets.checkpoint import CheckpointKindError


def _npz(path: Path, n: int = 12, size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "val", "test"):
        labels = np.arange(n) % 2
        images = rng.integers(0, 200, (n, size, size), dtype=np.uint8)
        arrays |= {f"{split}_images": images, f"{split}_labels": labels[:, None].astype(np.uint8)}
    np.savez(path, **arrays)
    return path


def _x(ckpt) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(2, ckpt.recipe.get("in_chans", 1), 16, 16)


def test_classifier_and_lora_adapters(tmp_path: Path) -> None:
    from hybridnets.train import TrainConfig, train

    start = hybridnets.save_pretrained(hybridnets.create("convvit_test"), tmp_path / "start")
    config = TrainConfig(model="convvit_test", data=str(_npz(tmp_path / "t.npz")), epochs=1,
                         batch_size=6, lora_rank=2, pretrained=str(start),
                         out_dir=str(tmp_path / "run"), progress=False)  # fmt: skip
    train(config)
    best = hybridnets.load(tmp_path / "run" / "best")
    lora = hybridnets.load(tmp_path / "run" / "lora")
    assert (best.kind, lora.kind) == ("classifier", "lora")
    with torch.no_grad():
        torch.testing.assert_close(lora.model(_x(best)), best.model(_x(best)))
    with pytest.raises(CheckpointKindError, match="lora checkpoint; only classifiers"):
        lora.predict(tmp_path / "t.npz")


def test_pretrained_encoder(tmp_path: Path) -> None:
    from hybridnets.pretrain.config import PretrainConfig
    from hybridnets.pretrain.recipe import pretrain

    config = PretrainConfig(model="convvit_test", data=str(_npz(tmp_path / "t.npz")), epochs=1,
                            batch_size=6, decoder_dim=16, out_dir=str(tmp_path / "p"),
                            progress=False)  # fmt: skip
    pretrain(config)
    ckpt = hybridnets.load(tmp_path / "p")
    assert ckpt.kind == "backbone"
    reference = hybridnets.create(pretrained=str(tmp_path / "p")).eval()
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(_x(ckpt)), reference(_x(ckpt)), rtol=0, atol=0)


def test_aligned_model_and_its_image_tower(tmp_path: Path, tiny_text_model, shape_pairs) -> None:
    from hybridnets.align import AlignConfig, align
    from hybridnets.checkpoint import load_aligned
    from hybridnets.multimodal import ImageTextModel

    (tmp_path / "pairs").mkdir()
    pairs = shape_pairs(tmp_path / "pairs", n_train=12, n_test=6, size=16)
    config = AlignConfig(model="convvit_test", data=str(pairs), text_model=str(tiny_text_model),
                         input_size=16, in_chans=3, embed_dim=8, epochs=1, batch_size=6,
                         out_dir=str(tmp_path / "a"), progress=False)  # fmt: skip
    align(config)
    aligned = hybridnets.load(tmp_path / "a" / "aligned")
    assert aligned.kind == "aligned" and isinstance(aligned.model, ImageTextModel)
    reference, _ = load_aligned(tmp_path / "a" / "aligned")
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(
            aligned.model.encode_image(x), reference.encode_image(x), rtol=0, atol=0
        )
    tower = hybridnets.load(tmp_path / "a" / "image_tower")
    assert tower.kind == "backbone" and tower.model.num_classes == 0
    backbone = hybridnets.create("convvit_test", in_chans=3, num_classes=0,
                                 pretrained=str(tmp_path / "a" / "aligned"))  # fmt: skip
    want = aligned.model.image.backbone.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in backbone.state_dict().items())


def test_refusals_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hybridnets.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointKindError, match="not a folder written by hybridnets"):
        hybridnets.load(tmp_path / "empty")
    (tmp_path / "run" / "best").mkdir(parents=True)
    (tmp_path / "run" / "best" / "recipe.json").write_text("{}")  # an older folder
    with pytest.raises(CheckpointKindError, match=r"run folder; load its checkpoint .*best"):
        hybridnets.load(tmp_path / "run")


def test_adapters_of_a_random_base_point_to_the_merged_model(tmp_path: Path) -> None:
    (tmp_path / "run" / "best").mkdir(parents=True)
    (tmp_path / "run" / "lora").mkdir()
    (tmp_path / "run" / "best" / "recipe.json").write_text('{"pretrained": null}')
    (tmp_path / "run" / "lora" / "adapter_config.json").write_text("{}")
    with pytest.raises(CheckpointKindError, match=r"randomly initialised.*load the merged model"):
        hybridnets.load(tmp_path / "run" / "lora")


def test_create_from_a_fusion_checkpoint_points_to_load(tmp_path: Path) -> None:
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "recipe.json").write_text('{"fusion": "cross"}')
    with pytest.raises(FileNotFoundError, match=r"another kind \(recipe.json\).*hybridnets.load"):
        hybridnets.create(pretrained=str(tmp_path / "best"))


def test_folders_of_the_older_format_still_load(tmp_path: Path) -> None:
    from hybridnets.checkpoint import CHECKPOINT_FILE, save_checkpoint

    model = hybridnets.create("convvit_test", num_classes=2, in_chans=1)
    recipe = {"model": "convvit_test", "spatial_dims": 2, "in_chans": 1, "num_classes": 2}
    folder = save_checkpoint(model, tmp_path / "best", recipe)
    record = json.loads((folder / CHECKPOINT_FILE).read_text())
    assert (record["format"], record["kind"]) == (1, "classifier")
    (folder / CHECKPOINT_FILE).rename(folder / "recipe.json")  # as written before it
    old = hybridnets.load(folder)
    assert old.kind == "classifier" and old.recipe["num_classes"] == 2
    (folder / CHECKPOINT_FILE).write_text(json.dumps(record | {"format": 99}))
    with pytest.raises(ValueError, match=r"format 99.*upgrade hybridnets"):
        hybridnets.load(folder)
