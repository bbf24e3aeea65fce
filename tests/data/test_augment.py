"""Tests for hybridnets.data.augment, 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from hybridnets.data import RandomFlipAffine, RandomIntensity, TrainAugment, random_rotation


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


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_zoom_range_crops_into_the_centre(spatial_dims: int) -> None:
    """A fixed 2× zoom-in with no rotation, shift or flip shows only the central half."""
    size = 16
    x = torch.zeros(2, 1, *[size] * spatial_dims)
    centre = (slice(None), slice(None), *[slice(4, 12)] * spatial_dims)
    x[centre] = 1.0
    aug = RandomFlipAffine(spatial_dims, flip_dims=(), degrees=0, scale=(2.0, 2.0), translate=0)
    y = aug(x, torch.Generator().manual_seed(0))
    inner = (slice(None), slice(None), *[slice(1, size - 1)] * spatial_dims)
    assert torch.allclose(y[inner], torch.ones_like(y[inner]), atol=1e-5)
    assert torch.allclose(aug(torch.ones_like(x)).mean(), torch.tensor(1.0), atol=1e-5)


def test_random_intensity_scales_contrast_about_each_mean() -> None:
    x = torch.randn(64, 1, 8, 8, 8) * 2 + 3
    aug = RandomIntensity(contrast=0.5, brightness=0.0, noise=0.0, p=1.0)
    y = aug(x, torch.Generator().manual_seed(0))
    dims = (1, 2, 3, 4)
    torch.testing.assert_close(y.mean(dims), x.mean(dims), atol=1e-4, rtol=1e-4)
    ratio = y.std(dims) / x.std(dims)
    assert ((ratio >= 0.5 - 1e-4) & (ratio <= 1.5 + 1e-4)).all() and ratio.std() > 0.1
    shifted = RandomIntensity(0.0, 0.3, 0.0, p=1.0)(x, torch.Generator().manual_seed(0))
    shift = (shifted - x).flatten(1)
    assert (shift.std(1) < 1e-5).all() and (shift[:, 0].abs() <= 0.3 + 1e-6).all()
    assert torch.equal(RandomIntensity(p=0.0)(x), x)  # p = 0 leaves every sample alone
    noisy = RandomIntensity(0.0, 0.0, 0.2, p=1.0)(x, torch.Generator().manual_seed(0))
    assert 0 < (noisy - x).std() < 0.2


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_train_augment_without_intensity_draws_as_flip_affine(spatial_dims: int) -> None:
    x = torch.randn(6, 2, *[10] * spatial_dims)
    plain = RandomFlipAffine(spatial_dims)(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(
        TrainAugment(spatial_dims)(x, torch.Generator().manual_seed(3)), plain, rtol=0, atol=0
    )
    changed = TrainAugment(spatial_dims, intensity=0.2)(x, torch.Generator().manual_seed(3))
    dims = tuple(range(1, x.ndim))
    # the same warp, then per-sample contrast (about the mean) and brightness within ±0.2
    shift = changed.mean(dims) - plain.mean(dims)
    ratio = (changed - changed.mean(dims, keepdim=True)).std(dims) / (
        plain - plain.mean(dims, keepdim=True)
    ).std(dims)
    assert (shift.abs() <= 0.2 + 1e-5).all() and (ratio - 1).abs().max() <= 0.2 + 1e-4
    assert not torch.allclose(changed, plain)
