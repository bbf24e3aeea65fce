"""The alignment recipe end to end on synthetic pairs: it learns, resumes exactly, saves a
backbone that loads, and its CLI documents every option."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

import hybridnets
from hybridnets.align import AlignConfig, align, score_aligned
from hybridnets.align.__main__ import parse_args
from hybridnets.align.recipe import STATE_FILE
from hybridnets.checkpoint import load_aligned, load_trained
from hybridnets.engine import StopRequest, TrainingStopped
from hybridnets.engine.trainer import TIMING_KEYS
from hybridnets.multimodal import TextTower


def _config(data: Path, text: Path, out: Path, spatial_dims: int = 2, **kw) -> AlignConfig:
    settings = dict(
        model="convvit_test",
        data=str(data),
        text_model=str(text),
        out_dir=str(out),
        input_size=32 if spatial_dims == 2 else 16,
        in_chans=3 if spatial_dims == 2 else 1,
        embed_dim=32,
        batch_size=16,
        lr=2e-3,
        progress=False,
        num_threads=1,
    )
    return AlignConfig(**(settings | kw))


@pytest.mark.parametrize(("spatial_dims", "epochs"), [(2, 20), (3, 12)])
def test_learns_the_shape_toy_and_saves_a_backbone(
    tmp_path: Path, tiny_text_model: Path, shape_pairs, spatial_dims: int, epochs: int
) -> None:
    """9 (2D) or 4 (3D) captions "a <colour> <shape>": retrieval far above chance (1/9, 1/4)
    in a few seconds; the saved tower and aligned model reproduce the reported features."""
    data = shape_pairs(tmp_path, spatial_dims, n_train=96, size=32 if spatial_dims == 2 else 16)
    out = tmp_path / "run"
    result = align(_config(data, tiny_text_model, out, spatial_dims, epochs=epochs))
    test = result["test"]
    assert test["image_to_text"]["R@1"] >= 0.9 and test["text_to_image"]["R@1"] >= 0.9, test
    assert test["zero_shot"]["label"]["n"] == 24 and result["mode"] == "lit"
    assert json.loads((out / "result.json").read_text())["test"] == test
    rescored = score_aligned(out / "aligned", data)  # the saved model scores the same
    assert rescored["zero_shot"] == test["zero_shot"]
    assert rescored["image_to_text"] == pytest.approx(test["image_to_text"])
    assert not (out / STATE_FILE).exists() and result["epochs_run"] == epochs

    aligned, recipe = load_aligned(out / "aligned")
    x = torch.rand(2, recipe["in_chans"], *(recipe["input_size"],) * spatial_dims)
    backbone = hybridnets.create(pretrained=result["checkpoint"]).eval()  # as train --pretrained
    with torch.no_grad():
        expected = aligned.image.backbone.forward_features(x)
        torch.testing.assert_close(backbone.forward_features(x), expected)
    assert backbone.num_classes == 0 and backbone.spatial_dims == spatial_dims
    _, saved = load_trained(result["checkpoint"])
    assert saved["aligned_with"] == str(tiny_text_model) and len(saved["mean"]) == x.shape[1]
    classifier = hybridnets.create(pretrained=result["checkpoint"], num_classes=4)
    assert classifier(x).shape == (2, 4)  # a new head on the aligned backbone


def _strip(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in history]


def test_interrupted_run_resumes_to_the_same_result(
    tmp_path: Path, tiny_text_model: Path, shape_pairs, crash_after_saves
) -> None:
    data = shape_pairs(tmp_path, 3, n_train=24, n_test=8, size=16)
    full = align(_config(data, tiny_text_model, tmp_path / "full", 3, epochs=3, batch_size=8))
    out = tmp_path / "interrupted"
    with crash_after_saves(2), pytest.raises(KeyboardInterrupt):
        align(_config(data, tiny_text_model, out, 3, epochs=3, batch_size=8))
    assert (out / STATE_FILE).is_file() and not (out / "result.json").exists()
    with pytest.raises(
        ValueError, match=r"other settings \(lr: 0\.002 -> 0\.001\).*`resume=False`"
    ):
        align(_config(data, tiny_text_model, out, 3, epochs=3, batch_size=8, lr=1e-3))
    resumed = align(_config(data, tiny_text_model, out, 3, epochs=3, batch_size=8))
    assert _strip(resumed["history"]) == _strip(full["history"])
    assert resumed["test"] == full["test"]
    ours, _ = load_trained(resumed["checkpoint"])
    theirs, _ = load_trained(full["checkpoint"])
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_stop_request_mid_epoch_saves_and_resumes_exactly(
    tmp_path: Path, tiny_text_model: Path, shape_pairs, monkeypatch
) -> None:
    data = shape_pairs(tmp_path, 3, n_train=24, n_test=8, size=16)  # 3 steps per epoch
    settings = dict(spatial_dims=3, epochs=2, batch_size=8, ema_decay=0.9)
    full = align(_config(data, tiny_text_model, tmp_path / "full", **settings))
    out, calls = tmp_path / "stopped", []

    def now(self, runtime) -> bool:  # asked after steps 1, 2 of each epoch: SIGTERM in epoch 2
        calls.append(1)
        self.signal = "SIGTERM"
        return len(calls) == 3

    with monkeypatch.context() as m:
        m.setattr(StopRequest, "now", now)
        with pytest.raises(TrainingStopped, match="stopped by SIGTERM in epoch 2 after step 1"):
            align(_config(data, tiny_text_model, out, **settings))
    resumed = align(_config(data, tiny_text_model, out, **settings))
    assert _strip(resumed["history"]) == _strip(full["history"])
    assert resumed["test"] == full["test"]


@pytest.mark.parametrize(
    ("kw", "mode"), [({"text_trainable": True}, "clip"), ({"text_lora_rank": 2}, "lora")]
)
def test_clip_and_lora_train_the_text_tower(
    tmp_path: Path, tiny_text_model: Path, shape_pairs, kw: dict, mode: str
) -> None:
    pytest.importorskip("peft")
    data = shape_pairs(tmp_path, 3, n_train=16, n_test=8, size=16)
    out = tmp_path / "run"
    lit = align(_config(data, tiny_text_model, tmp_path / "lit", 3, epochs=1, batch_size=8))
    result = align(_config(data, tiny_text_model, out, 3, epochs=1, batch_size=8, **kw))
    assert result["mode"] == mode and result["trainable_params"] > lit["trainable_params"]
    model, _ = load_aligned(out / "aligned")  # the trained text weights come back
    fresh = TextTower(tiny_text_model, lora_rank=kw.get("text_lora_rank"))
    trained = dict(model.text.named_parameters())
    changed = [n for n, p in fresh.named_parameters() if not torch.equal(p, trained[n])]
    assert model.text.trainable and changed
    if mode == "lora":  # the base weights are the text model's, B (zero at init) trained
        assert all("lora_" in n for n in changed) and any("lora_B" in n for n in changed)
    else:
        assert len(changed) > 10


def test_medpix_layout_reports_both_zero_shot_tasks(
    tmp_path: Path, tiny_text_model: Path, medpix_like
) -> None:
    root = medpix_like(tmp_path / "medpix2", n=4)
    config = _config(root, tiny_text_model, tmp_path / "run", epochs=1, batch_size=4, in_chans=1)
    result = align(config)
    assert set(result["test"]["zero_shot"]) == {"region", "modality"}
    assert result["val"] is not None and "val_zero_shot_region" in result["history"][0]


def test_image_tower_starts_from_pretrained_weights(
    tmp_path: Path, tiny_text_model: Path, shape_pairs
) -> None:
    """--pretrained loads a save_pretrained folder into the image tower: at LR 0 the saved
    tower's parameters are exactly those weights (and a random start's are not)."""
    data = shape_pairs(tmp_path, 2, n_train=32, size=32)
    folder = tmp_path / "pretrained"
    torch.manual_seed(123)
    hybridnets.save_pretrained(hybridnets.create("convvit_test", in_chans=3, num_classes=0), folder)
    weights = dict(hybridnets.create(pretrained=str(folder)).named_parameters())
    for pretrained in (str(folder), None):
        out = tmp_path / f"run_{pretrained is None}"
        config = _config(data, tiny_text_model, out, epochs=1, lr=0.0, pretrained=pretrained)
        tower = dict(hybridnets.create(pretrained=align(config)["checkpoint"]).named_parameters())
        same = all(torch.equal(tower[k], w) for k, w in weights.items())
        assert same == (pretrained is not None)
    with pytest.raises(ValueError, match=r"loads hybridnets weights.*timm"):
        align(_config(data, tiny_text_model, tmp_path / "r", model="resnet18", pretrained="x"))


def test_outputs_and_settings_are_checked_before_training(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="must be a folder"):
        align(AlignConfig(model="convvit_test", data="nowhere.csv", out_dir=str(tmp_path / "file")))
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        AlignConfig(model="m", data="d", batch_size=1)
    with pytest.raises(ValueError, match="pool must be one of"):
        AlignConfig(model="m", data="d", pool="max")


def test_help_describes_every_option_with_its_default(capsys) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for f in fields(AlignConfig):
        flag = {"out_dir": "--out"}.get(f.name, "--" + f.name.replace("_", "-"))
        if f.type == "bool" and f.default:
            flag = "--no-" + flag[2:]
        assert flag in text, flag
    assert "(default: 128)" in text and "LiT" in text
    config = parse_args(["--model", "m", "--data", "d", "--text-lora-rank", "4", "--no-augment"])
    assert config.text_lora_rank == 4 and not config.augment and config.mode == "lora"


def test_extra_texts_replace_captions_at_the_asked_rate(
    tmp_path: Path, tiny_text_model: Path, medpix_like
) -> None:
    from types import SimpleNamespace

    from hybridnets.align.recipe import _texts
    from hybridnets.data.pairs import read_medpix

    root = medpix_like(tmp_path / "medpix2", n=4)
    with pytest.raises(ValueError, match=r"needs extra texts.*Case_topic.json"):
        align(_config(root, tiny_text_model, tmp_path / "a", epochs=1, extra_text_prob=0.5))
    with pytest.raises(ValueError, match=r"extra_text_prob must be in \[0, 1\]"):
        _config(root, tiny_text_model, tmp_path / "b", extra_text_prob=1.5)
    topics = [{"U_id": f"MPX{i}", "Case": {"Title": f"Case {i}"}} for i in range(3)]
    (root / "Case_topic.json").write_text(json.dumps(topics))
    for split in ("train", "dev", "test"):
        path = root / "splits" / f"descriptions_{split}.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text(
            "\n".join(json.dumps(r | {"U_id": f"MPX{i}"}) for i, r in enumerate(records))
        )
    pairs = read_medpix(root, "train", size=8)  # image 3 has no case report
    index = torch.arange(4).repeat(200)

    def texts(p: float) -> list[str]:
        run = SimpleNamespace(train=pairs, extra_text_prob=p)
        return _texts(run, index, torch.Generator().manual_seed(0))

    assert texts(0.0) == [pairs.texts[i] for i in index.tolist()]
    assert texts(1.0)[:4] == ["Case 0.", "Case 1.", "Case 2.", pairs.texts[3]]
    share = sum(t.startswith("Case") for t in texts(0.3)) / 600  # of the images with a report
    assert 0.25 < share < 0.35
    result = align(
        _config(root, tiny_text_model, tmp_path / "run", epochs=1, batch_size=4, in_chans=1,
                extra_text_prob=0.5)
    )  # fmt: skip
    assert result["extra_text_prob"] == 0.5 and result["test"]["zero_shot"]
    default = align(
        _config(root, tiny_text_model, tmp_path / "d", epochs=1, batch_size=4, in_chans=1)
    )
    assert default["config"]["extra_text_prob"] is None and default["extra_text_prob"] == 0.5
    (root / "Case_topic.json").unlink()  # no extra texts: the default trains on captions only
    plain = align(
        _config(root, tiny_text_model, tmp_path / "e", epochs=1, batch_size=4, in_chans=1)
    )
    assert plain["extra_text_prob"] == 0.0


def test_selection_needs_validation_pairs(tmp_path: Path, shape_pairs, tiny_text_model) -> None:
    (tmp_path / "pairs").mkdir()
    data = shape_pairs(tmp_path / "pairs", n_train=12, n_test=6, size=16)  # no val split
    config = _config(data, tiny_text_model, tmp_path / "out", input_size=16, epochs=1,
                     batch_size=6, select="val_loss", patience=1)  # fmt: skip
    with pytest.raises(ValueError, match="select=val_loss needs validation pairs"):
        align(config)
    with pytest.raises(ValueError, match="select must be one of \\('last', 'val_loss'\\)"):
        AlignConfig(model="m", data="d", select="val_auc")


def test_the_aligned_model_keeps_the_stem_of_its_input_size(
    tmp_path: Path, tiny_text_model: Path, shape_pairs, monkeypatch
) -> None:
    """A model whose stem follows the input size (here convvit_test given convvit_n's kind of
    rule) records the stride it trained with; both saved models rebuild it."""
    from hybridnets import registry

    monkeypatch.setitem(registry._INPUT_KWARGS, "convvit_test", (32, {"stem_stride": 4}))
    data = shape_pairs(tmp_path, 2, n_train=32, size=32)
    result = align(_config(data, tiny_text_model, tmp_path / "run", epochs=1))
    aligned, recipe = load_aligned(tmp_path / "run" / "aligned")
    assert recipe["model_kwargs"] == {"stem_stride": 4}
    assert aligned.image.backbone.feature_info[0]["reduction"] == 4
    assert hybridnets.create(pretrained=result["checkpoint"]).feature_info[0]["reduction"] == 4
