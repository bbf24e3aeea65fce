"""Shared fixtures: deterministic seeds, small helpers used across the test tree."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

DATA_DIRS = [
    Path(p)
    for p in (os.environ.get("MEDMNIST_DIR"), Path(__file__).parents[2] / "shared" / "data")
    if p
]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def medmnist_file() -> Callable[[str], Path]:
    """``medmnist_file("pneumoniamnist.npz")``: the real file from ``$MEDMNIST_DIR`` or
    ``../shared/data``; the test is skipped, naming where it looked, when neither has it."""

    def find(name: str) -> Path:
        for folder in DATA_DIRS:
            if (folder / name).is_file():
                return folder / name
        pytest.skip(f"{name} not in {[str(d) for d in DATA_DIRS]}; set MEDMNIST_DIR to run it")

    return find


def write_patch_toy(path: Path, n_train: int = 29, n_eval: int = 21, size: int = 16) -> Path:
    """A tiny 2D MedMNIST-format ``.npz``: noise, plus a bright patch on class-1 images."""
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("val", n_eval), ("test", n_eval)):
        labels = np.arange(n, dtype=np.uint8) % 2
        images = rng.integers(0, 80, (n, size, size), dtype=np.uint8)
        images[labels == 1, 4:10, 5:11] += 120
        arrays |= {f"{split}_images": images, f"{split}_labels": labels[:, None]}
    np.savez(path, **arrays)
    return path


@pytest.fixture
def patch_toy() -> Callable[..., Path]:
    """``patch_toy(path, n_train=29)``: write :func:`write_patch_toy` and return its path."""
    return write_patch_toy


@pytest.fixture
def device() -> Iterator[torch.device]:
    """Where Triton kernel and backend tests run: ``cuda`` when available, else ``cpu`` under
    Triton's interpreter (``TRITON_INTERPRET=1`` only while the test runs, so the rest of the
    suite keeps dispatching to SDPA on CPU)."""
    pytest.importorskip("triton")
    if torch.cuda.is_available():
        yield torch.device("cuda")
        return
    from hybridnets.kernels.interpret import cpu_interpreter

    with cpu_interpreter():
        yield torch.device("cpu")
