"""Tests for hybridnets.train.models: name resolution and pooled features, 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from hybridnets.train import build_model, model_source, pooled_features


@pytest.mark.parametrize(
    ("name", "spatial_dims", "kwargs"),
    [
        ("resnet18", 2, {}),
        ("monai_resnet10", 3, {"widen_factor": 0.25}),
        ("convvit_test", 2, {}),
        ("convvit_test", 3, {}),
    ],
)
def test_build_and_pool(name: str, spatial_dims: int, kwargs: dict) -> None:
    model = build_model(name, spatial_dims, in_chans=1, num_classes=3, **kwargs)
    x = torch.rand(2, 1, *([16] * spatial_dims))
    assert model(x).shape == (2, 3)
    feats = pooled_features(model, x)
    assert feats.ndim == 2 and feats.shape[0] == 2 and feats.shape[1] > 3


def test_build_errors() -> None:
    with pytest.raises(ValueError, match="2D only"):
        build_model("resnet18", 3, 1, 2)
    with pytest.raises(ValueError, match="neither"):
        build_model("no_such_model", 2, 1, 2)


def test_model_source() -> None:
    assert model_source("convvit_n") == "hybridnets"
    assert model_source("monai_resnet18") == "monai"
    assert model_source("resnet18") == "timm"
