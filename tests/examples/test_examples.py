"""The examples run (they are the README's promises)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_quickstart_runs(capsys):
    _load("quickstart").main()
    out = capsys.readouterr().out
    assert "3D feature maps: [(1, 96, 16, 16, 16)" in out
    assert "timm.create_model: ConvViT" in out


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_segmentation_decoder_restores_resolution(spatial_dims):
    import torch

    net = _load("segmentation_3d").HybridUNet(
        "convvit_test", spatial_dims, in_chans=1, num_classes=3
    )
    x = torch.randn(1, 1, *([32] * spatial_dims))
    y = net(x)
    assert y.shape == (1, 3, *([32] * spatial_dims))
    y.mean().backward()


def test_model_summary_prints_every_stage(capsys):
    summary = _load("model_summary")
    summary.summarise("convvit_test", 3, 32)
    out = capsys.readouterr().out
    assert "convvit_test 3D, input (1, 1, 32, 32, 32)" in out
    assert "stages.3  stride 16  (1, 64, 2, 2, 2)" in out  # convvit_test: stem stride 2
    assert "GMACs" in out and "logits (1, 1000)" in out


@pytest.mark.parametrize("size", [(40, 36), (20, 24, 28)], ids=["2d", "3d"])
def test_segmentation_takes_any_size(size):
    import torch

    net = _load("segmentation_3d").HybridUNet("convvit_test", len(size), in_chans=1, num_classes=2)
    with torch.no_grad():
        assert net(torch.randn(1, 1, *size)).shape == (1, 2, *size)


def test_transfer_without_data_says_where_it_comes_from(tmp_path, capsys):
    transfer = _load("transfer_3d")
    with pytest.raises(SystemExit) as info:
        transfer.parse_args(["--data", str(tmp_path / "adrenalmnist3d.npz")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "adrenalmnist3d.npz not found" in err and "medmnist.com" in err
    assert "pip install medmnist" in err and "--data PATH" in err


def test_pretrain_finetune_runs(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 255, (16, 16, 16), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(16) % 2)[:, None]
    np.savez(tmp_path / "toy.npz", **arrays)
    argv = ["--data", str(tmp_path / "toy.npz"), "--model", "convvit_test", "--epochs", "1", "1"]
    summary = _load("pretrain_finetune").main(
        [*argv, "--labels", "12", "--out", str(tmp_path / "run"), "--num-threads", "1"]
    )
    assert (tmp_path / "run/mim/model.safetensors").is_file()
    assert (tmp_path / "run/finetune/best/model.safetensors").is_file()
    assert (
        set(summary["test"]) >= {"acc", "auc"} and '"pretraining_loss"' in capsys.readouterr().out
    )


def test_fusion_example_trains_both_arms_and_predicts_a_case(tmp_path, ham_like, capsys):
    data = ham_like(tmp_path / "ham", n=60)
    argv = ["--data", str(data), "--model", "convvit_test", "--size", "16", "--epochs", "1"]
    argv += ["--max-train-samples", "30", "--out", str(tmp_path / "out"), "--num-threads", "1"]
    summary = _load("fusion_ham10000").main(argv)
    assert set(summary) == {"image_only", "fused", "table_used", "one_case"}
    assert isinstance(summary["table_used"], bool)
    assert set(summary["one_case"]) == {"bkl", "mel", "nv"}
    assert abs(sum(summary["one_case"].values()) - 1) < 0.01
    assert (tmp_path / "out" / "cross" / "best" / "checkpoint.json").is_file()


def test_align_search_finds_the_queried_shape(tmp_path, shape_pairs, tiny_text_model, capsys):
    pytest.importorskip("transformers")
    data = shape_pairs(tmp_path, 2, n_train=96, size=32)
    argv = ["--data", str(data), "--model", "convvit_test", "--text-model", str(tiny_text_model)]
    argv += ["--input-size", "32", "--in-chans", "3", "--epochs", "20", "--batch-size", "16"]
    argv += ["--lr", "2e-3", "--query", "a red square", "--classes", "square,circle,cross"]
    out = _load("align_search").main([*argv, "--top", "2", "--out", str(tmp_path / "run")])
    printed = capsys.readouterr().out
    assert "query 'a red square':" in printed and "zero-shot over 24 test images" in printed
    from hybridnets.data.pairs import load_pairs

    test = load_pairs(data, "test", 3, 32)
    assert [test.texts[i] for i in out["ranked"]] == ["a red square"] * 2  # both of them
    assert sum(out["counts"].values()) == 24
