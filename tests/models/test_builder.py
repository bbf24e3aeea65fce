"""Shared construction: timm's ``pretrained_cfg`` / ``pretrained_cfg_overlay`` and tags."""

from __future__ import annotations

import pytest
import timm
import torch

import hybridnets
from hybridnets.pretrained import PretrainedCfg, register_pretrained, write_state_dict
from hybridnets.pretrained.registry import unregister_pretrained


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def weights(tmp_path):
    """A perturbed ``convvit_test`` (4 classes) saved as a local safetensors file."""
    model = hybridnets.create("convvit_test", num_classes=4)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    path = tmp_path / "w.safetensors"
    write_state_dict(model.state_dict(), path)
    return model, path


def test_timm_overlay_file_loads_those_weights(weights):
    source, path = weights
    overlay = {"file": str(path), "mean": (0.1, 0.2, 0.3), "crop_pct": 1.0}
    model = timm.create_model(
        "convvit_test", pretrained=True, num_classes=4, pretrained_cfg_overlay=overlay
    )
    assert _same_weights(model, source)
    cfg = model.pretrained_cfg
    assert cfg["source"] == str(path) and cfg["file"] == str(path)
    assert cfg["mean"] == (0.1, 0.2, 0.3) and cfg["crop_pct"] == 1.0  # other keys update it
    assert model.default_cfg is cfg and "pretrained_cfg_overlay" not in model.hybridnets_config


def test_overlay_without_pretrained_loads_nothing(weights):
    source, path = weights
    model = hybridnets.create("convvit_test", num_classes=4, pretrained_cfg_overlay={"file": path})
    assert not _same_weights(model, source) and model.pretrained_cfg["file"] == str(path)


def test_timm_name_with_tag_loads_that_tag(weights):
    source, path = weights
    register_pretrained("convvit_test", "unit_local", PretrainedCfg(str(path), num_classes=4))
    try:
        model = timm.create_model("convvit_test.unit_local", pretrained=True, num_classes=4)
        assert _same_weights(model, source)
        assert model.pretrained_cfg["tag"] == "convvit_test.unit_local"
        features = timm.create_model("convvit_test", features_only=True, spatial_dims=3)
        assert features.pretrained_cfg["input_size"] == (3, 32, 32, 32)  # as timm's wrappers
    finally:
        unregister_pretrained("convvit_test.unit_local")
