"""Batched random flips and small affine warps for 2D and 3D tensors, on any device.

One ``affine_grid`` + ``grid_sample`` per batch, so augmentation costs one resampling pass
and runs wherever the batch lives (CPU or GPU).

    augment = RandomFlipAffine(spatial_dims=3)
    x = augment(x)                 # (B, C, D, H, W), each sample with its own transform
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RandomFlipAffine", "RandomIntensity", "TrainAugment", "random_rotation"]


def random_rotation(
    batch: int, spatial_dims: int, max_degrees: float, generator=None
) -> torch.Tensor:
    """``(B, d, d)`` rotation matrices with angles uniform in ``±max_degrees`` per axis.

    2D: one angle. 3D: rotations about the three axes, composed.
    """
    n_angles = 1 if spatial_dims == 2 else 3
    angles = (torch.rand(batch, n_angles, generator=generator) * 2 - 1) * math.radians(max_degrees)
    cos, sin = angles.cos(), angles.sin()
    if spatial_dims == 2:
        c, s = cos[:, 0], sin[:, 0]
        return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (B, 2, 2)
    rot = torch.eye(3).expand(batch, 3, 3)
    for axis in range(3):
        i, j = [a for a in range(3) if a != axis]
        r = torch.eye(3).repeat(batch, 1, 1)  # (B, 3, 3)
        r[:, i, i], r[:, i, j] = cos[:, axis], -sin[:, axis]
        r[:, j, i], r[:, j, j] = sin[:, axis], cos[:, axis]
        rot = rot @ r
    return rot


class RandomFlipAffine(nn.Module):
    """Random flips along chosen spatial axes, then a small random rotation, scale and shift.

    Args:
        spatial_dims: 2 or 3.
        flip_dims: Spatial axes (0-based over ``*S``) to flip, each with probability 0.5.
            Default: the last (left-right) axis in 2D, every axis in 3D.
        degrees: Maximum rotation per axis in degrees.
        scale: Maximum relative zoom, uniform in ``[1 - scale, 1 + scale]``; or a ``(low, high)``
            zoom range (``(1, 2)`` zooms in up to 2×, a random crop of ¼ to all of the area in 2D).
        translate: Maximum shift as a fraction of the image size.
        p_affine: Probability that a sample gets the affine warp.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        flip_dims: Sequence[int] | None = None,
        degrees: float = 10.0,
        scale: float | tuple[float, float] = 0.1,
        translate: float = 0.1,
        p_affine: float = 0.8,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        self.spatial_dims = spatial_dims
        default = (spatial_dims - 1,) if spatial_dims == 2 else tuple(range(spatial_dims))
        self.flip_dims = tuple(default if flip_dims is None else flip_dims)
        self.degrees, self.scale, self.translate, self.p_affine = (
            degrees,
            scale,
            translate,
            p_affine,
        )

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a float batch ``(B, C, *S)``; each sample draws its own transform."""
        if x.ndim != self.spatial_dims + 2:
            raise ValueError(
                f"expected a (B, C, *S) batch with {self.spatial_dims} spatial dims, "
                f"got shape {tuple(x.shape)}"
            )
        b, d = x.shape[0], self.spatial_dims
        # Flips and the affine are folded into one matrix acting on normalised coordinates.
        # affine_grid orders coordinates (x, y[, z]), i.e. the reverse of the tensor axes.
        diag = torch.ones(b, d)
        for axis in self.flip_dims:
            flip = torch.rand(b, generator=generator) < 0.5
            diag[flip, d - 1 - axis] = -1.0
        u = torch.rand(b, 1, generator=generator)
        if isinstance(self.scale, Sequence):
            zoom = self.scale[0] + u * (self.scale[1] - self.scale[0])
        else:
            zoom = 1 + (u * 2 - 1) * self.scale
        rot = random_rotation(b, d, self.degrees, generator)  # (B, d, d)
        shift = (torch.rand(b, d, generator=generator) * 2 - 1) * 2 * self.translate
        keep = torch.rand(b, generator=generator) >= self.p_affine
        rot[keep] = torch.eye(d)
        zoom[keep], shift[keep] = 1.0, 0.0
        theta = rot / zoom.unsqueeze(-1) @ torch.diag_embed(diag)  # (B, d, d)
        theta = torch.cat([theta, shift.unsqueeze(-1)], dim=-1)  # (B, d, d + 1)
        theta = theta.to(device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, *S, d)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class RandomIntensity(nn.Module):
    """Random contrast, brightness and Gaussian noise per sample, for any number of spatial dims.

    Each sample (with probability ``p``) is scaled about its own mean by a factor uniform in
    ``[1 - contrast, 1 + contrast]``, shifted by up to ``±brightness`` and given Gaussian noise
    of a standard deviation uniform in ``[0, noise]`` (all in the units of the input; with
    standardised inputs, in standard deviations): the intensity part of a contrastive view for
    grey-scale scans, where colour jitter has nothing to act on.

    Args:
        contrast: Maximum relative change of contrast.
        brightness: Maximum additive shift.
        noise: Maximum standard deviation of the added noise.
        p: Probability that a sample is changed at all.
    """

    def __init__(
        self, contrast: float = 0.4, brightness: float = 0.4, noise: float = 0.1, p: float = 0.8
    ) -> None:
        super().__init__()
        self.contrast, self.brightness, self.noise, self.p = contrast, brightness, noise, p

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Change a float batch ``(B, C, *S)``; each sample draws its own factors."""
        b, shape = x.shape[0], (x.shape[0],) + (1,) * (x.ndim - 1)
        on = (torch.rand(b, generator=generator) < self.p).view(shape).to(x.device)
        factor = 1 + (torch.rand(b, generator=generator) * 2 - 1).view(shape) * self.contrast
        shift = (torch.rand(b, generator=generator) * 2 - 1).view(shape) * self.brightness
        mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
        changed = (x - mean) * factor.to(x) + mean + shift.to(x)
        if self.noise > 0:
            sigma = torch.rand(b, generator=generator).view(shape) * self.noise
            changed = changed + (torch.randn(x.shape, generator=generator) * sigma).to(x)
        return torch.where(on, changed, x)


class TrainAugment(nn.Module):
    """The supervised recipe's augmentation of a training batch: random flips and a small
    affine warp (:class:`RandomFlipAffine`'s defaults), then, with ``intensity`` above 0,
    random contrast and brightness of at most ``±intensity`` (:class:`RandomIntensity`, no
    noise, 80 % of the samples).

    With ``intensity`` 0 it draws exactly what :class:`RandomFlipAffine` alone draws, so runs
    without it are unchanged.
    """

    def __init__(self, spatial_dims: int = 2, intensity: float = 0.0) -> None:
        super().__init__()
        self.geometry = RandomFlipAffine(spatial_dims)
        self.intensity = RandomIntensity(intensity, intensity, noise=0.0) if intensity else None

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a float batch ``(B, C, *S)``; each sample draws its own transform."""
        x = self.geometry(x, generator)
        return x if self.intensity is None else self.intensity(x, generator)
