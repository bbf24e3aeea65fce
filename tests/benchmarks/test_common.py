"""Tests for benchmarks/_common.py: models through the library resolver, input sizes, tables."""

from __future__ import annotations

import sys

import _common
import pytest
import torch


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


def test_cpu_threads() -> None:
    assert _common.cpu_threads("3") == 3
    assert 1 <= _common.cpu_threads("auto") <= torch.get_num_threads()


def test_run_logged_writes_the_output_and_returns_the_status(tmp_path) -> None:
    log = tmp_path / "new" / "run.log"
    code = "import sys; print('hello'); sys.exit(3)"
    assert _common.run_logged([sys.executable, "-c", code], log) == 3
    assert _common.run_logged([sys.executable, "-c", "print('again')"], log, mode="a") == 0
    assert log.read_text().split() == ["hello", "again"]
