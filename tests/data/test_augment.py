"""Tests for hybridnets.data.augment, 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from hybridnets.data import RandomFlipAffine, random_rotation


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_shape_and_randomness(spatial_dims: int) -> None:
    x = torch.rand(4, 2, *([8] * spatial_dims))
    aug = RandomFlipAffine(spatial_dims)
    y = aug(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and torch.isfinite(y).all()
    torch.testing.assert_close(y, aug(x, torch.Generator().manual_seed(0)))
    assert not torch.allclose(y, x)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_flips_only_are_exact(spatial_dims: int) -> None:
    """Without the affine, every sample is the input flipped along some of the flip axes."""
    x = torch.rand(16, 1, *range(5, 5 + spatial_dims))
    aug = RandomFlipAffine(spatial_dims, flip_dims=(0,), p_affine=0.0)
    y = aug(x, torch.Generator().manual_seed(1))
    flipped = x.flip(2)
    for a, b, f in zip(y, x, flipped):
        assert torch.allclose(a, b, atol=1e-5) or torch.allclose(a, f, atol=1e-5)
    assert not torch.allclose(y, x, atol=1e-5) and not torch.allclose(y, flipped, atol=1e-5)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_rotation_is_orthonormal(spatial_dims: int) -> None:
    r = random_rotation(5, spatial_dims, 30.0)
    eye = torch.eye(spatial_dims).expand_as(r)
    torch.testing.assert_close(r @ r.transpose(1, 2), eye, atol=1e-5, rtol=0)


def test_wrong_rank() -> None:
    with pytest.raises(ValueError, match="2 spatial dims"):
        RandomFlipAffine(2)(torch.rand(2, 1, 4, 4, 4))
