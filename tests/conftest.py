"""Shared fixtures: deterministic seeds, small helpers used across the test tree."""

from __future__ import annotations

import os
from collections.abc import Callable
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
