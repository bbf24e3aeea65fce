"""--lora-rank in the train recipe: only adapters and the classifier train, the checkpoint is
the merged plain model (it reproduces the run's test metrics), and lora/ (adapters + batch-norm
statistics) on the starting weights gives that model again."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import hybridnets
from hybridnets.checkpoint import load_trained
from hybridnets.data import MedMNIST
from hybridnets.inference import evaluate
from hybridnets.multimodal import load_adapters
from hybridnets.train import TrainConfig, train

peft = pytest.importorskip("peft")


def test_lora_run_freezes_the_backbone_and_saves_merged_weights(tmp_path: Path, toy_npz) -> None:
    data = toy_npz(2, 16, 48, 32)
    start = hybridnets.create("convvit_test", in_chans=1, num_classes=2)
    hybridnets.save_pretrained(start, tmp_path / "start")
    config = TrainConfig(
        model="convvit_test", data=str(data), out_dir=str(tmp_path / "run"), epochs=2, lr=1e-2,
        lora_rank=4, pretrained=str(tmp_path / "start"), progress=False, num_threads=1,
    )  # fmt: skip
    result = train(config)
    assert result["trainable_params"] < 0.15 * result["params"]
    merged, recipe = load_trained(result["checkpoint"])
    before, after = start.state_dict(), merged.state_dict()
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.endswith("attn.qkv.weight") for k in changed)  # adapters merged in
    assert any(k.startswith("head.fc") for k in changed)  # the new classifier trained
    params = {n for n, _ in start.named_parameters()}  # BN statistics still follow the data
    frozen = [k for k in params if "norm" in k or k.startswith("stem") or "conv_dw" in k]
    assert frozen and not changed & set(frozen)
    test = MedMNIST(data, "test").set_normalization(recipe["mean"], recipe["std"])
    again = evaluate(merged, test, torch.device("cpu"), tta=recipe["tta"])
    assert again["acc"] == pytest.approx(result["test"]["acc"], abs=1e-9)
    base = hybridnets.create("convvit_test", in_chans=1, num_classes=2).eval()
    base.load_state_dict(before)
    adapted = load_adapters(base, tmp_path / "run" / "lora").merge_and_unload()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(adapted.eval()(x), merged(x), atol=1e-5, rtol=1e-5)


def test_lora_is_refused_for_models_it_cannot_adapt(tmp_path: Path, toy_npz) -> None:
    data = toy_npz(2, 16, 8, 8)
    config = TrainConfig(model="resnet18", data=str(data), lora_rank=4, out_dir=str(tmp_path))
    with pytest.raises(ValueError, match="`lora_rank` adapts hybridnets image models"):
        train(config)
