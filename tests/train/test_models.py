"""Tests for hybridnets.train.models: pooled features of any resolved model, 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from hybridnets.resolve import create_model
from hybridnets.train import pooled_features


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
    model = create_model(name, spatial_dims, in_chans=1, num_classes=3, **kwargs)
    x = torch.rand(2, 1, *([16] * spatial_dims))
    assert model(x).shape == (2, 3)
    feats = pooled_features(model, x)
    assert feats.ndim == 2 and feats.shape[0] == 2 and feats.shape[1] > 3
