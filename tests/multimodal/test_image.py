"""ImageTower: hybridnets (2D and 3D), timm and MONAI backbones, attention or average pooling."""

from __future__ import annotations

import pytest
import torch

from hybridnets.multimodal import ImageTower


@pytest.mark.parametrize("pool", ["attn", "avg"])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_hybridnets_tower(spatial_dims: int, pool: str) -> None:
    tower = ImageTower("convvit_test", spatial_dims, in_chans=1, pool=pool)
    x = torch.randn(2, 1, *(16,) * spatial_dims)
    assert tower.tokens(x).shape == (2, 1, 64)  # 16 px / 16: one position
    assert tower(x).shape == (2, tower.width) == (2, 64)
    tower(x).sum().backward()
    assert tower.backbone.num_classes == 0


@pytest.mark.parametrize(
    ("name", "spatial_dims", "size", "kwargs"),
    [
        ("monai_resnet10", 3, 16, {}),
        ("monai_resnet10", 2, 32, {}),
        ("resnet18", 2, 32, {}),
        ("test_vit", 2, 16, {"img_size": 16, "patch_size": 4}),
    ],
)
@pytest.mark.parametrize("pool", ["attn", "avg"])
def test_other_libraries(name: str, spatial_dims: int, size: int, kwargs: dict, pool: str) -> None:
    tower = ImageTower(name, spatial_dims, in_chans=1, pool=pool, **kwargs)
    out = tower(torch.randn(2, 1, *(size,) * spatial_dims))
    assert out.shape == (2, tower.width) and torch.isfinite(out).all()


def test_bad_pooling_is_refused() -> None:
    with pytest.raises(ValueError, match="image pooling must be one of"):
        ImageTower("convvit_test", pool="max")
