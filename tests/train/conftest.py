"""Fixtures for the recipe tests: a learnable toy in MedMNIST format: a bright disc (class 0) or a ring (class 1), 2D or 3D.

Random centre, radius, background and contrast, uint8 and not standardised, so a model that
needs centred inputs or a lucky position does not learn it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def disc_or_ring(n: int, size: int, spatial_dims: int, rng: np.random.Generator):
    """``n`` uint8 images ``(n, *[size] * spatial_dims)`` and labels (0 disc, 1 ring)."""
    grid = np.stack(np.meshgrid(*[np.arange(size)] * spatial_dims, indexing="ij"), -1)
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    images = np.empty((n, *[size] * spatial_dims), dtype=np.uint8)
    for i, label in enumerate(labels):
        radius = rng.uniform(0.22, 0.32) * size
        centre = rng.uniform(radius + 1, size - radius - 1, spatial_dims)
        dist = np.linalg.norm(grid - centre, axis=-1)
        shape = dist <= radius
        if label == 1:
            shape &= dist >= radius - max(1.5, 0.12 * size)
        background = rng.uniform(0, 90)
        contrast = rng.uniform(70, 160)
        image = background + contrast * shape + rng.normal(0, 8, dist.shape)
        images[i] = np.clip(image, 0, 255).astype(np.uint8)
    return images, labels.astype(np.uint8)[:, None]


def write_toy(path: Path, spatial_dims: int, size: int, n_train: int, n_eval: int, seed: int = 0):
    """Write train/val/test splits of the toy to ``path`` (``.npz``) and return it."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("val", n_eval), ("test", n_eval)):
        images, labels = disc_or_ring(n, size, spatial_dims, rng)
        arrays |= {f"{split}_images": images, f"{split}_labels": labels}
    np.savez(path, **arrays)
    return path


@pytest.fixture
def toy_npz(tmp_path: Path):
    """``toy_npz(spatial_dims, size, n_train, n_eval)`` → path of a disc-vs-ring ``.npz``."""

    def make(spatial_dims: int, size: int, n_train: int, n_eval: int = 64) -> Path:
        return write_toy(tmp_path / f"toy{spatial_dims}d.npz", spatial_dims, size, n_train, n_eval)

    return make
