"""Two strongly augmented views of every image in a batch, for contrastive pretraining.

A view is a random flip, rotation, zoom (mostly in: a random crop) and shift
(:class:`~hybridnets.data.RandomFlipAffine`) followed by random contrast, brightness and noise
(:class:`~hybridnets.data.RandomIntensity`): SimCLR's crop + colour recipe (Chen et al., 2020)
for grey-scale 2D images and 3D volumes, one resampling pass per view, on the batch's device.

    views = ContrastiveViews(spatial_dims=2)
    a, b = views(x, generator)           # x (B, C, *S) standardised; a, b the same shape
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hybridnets.data import RandomFlipAffine, RandomIntensity

__all__ = ["ContrastiveViews"]


class ContrastiveViews(nn.Module):
    """Draw two independent strong views of a batch.

    Args:
        spatial_dims: 2 or 3 (3D: flips along every axis, rotations about all three).
        zoom: ``(low, high)`` zoom range; above 1 crops into the image.
        degrees: Maximum rotation per axis.
        translate: Maximum shift as a fraction of the image size.
        contrast: Contrast change (see :class:`~hybridnets.data.RandomIntensity`).
        brightness: Brightness change (likewise).
        noise: Gaussian noise level (likewise).
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        zoom: tuple[float, float] = (0.8, 1.8),
        degrees: float = 20.0,
        translate: float = 0.15,
        contrast: float = 0.4,
        brightness: float = 0.4,
        noise: float = 0.1,
    ) -> None:
        super().__init__()
        self.geometry = RandomFlipAffine(
            spatial_dims, degrees=degrees, scale=zoom, translate=translate, p_affine=1.0
        )
        self.intensity = RandomIntensity(contrast, brightness, noise)

    def view(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One random view of every sample."""
        return self.intensity(self.geometry(x, generator), generator)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Two views ``(a, b)`` of ``x`` ``(B, C, *S)``, drawn independently."""
        return self.view(x, generator), self.view(x, generator)
