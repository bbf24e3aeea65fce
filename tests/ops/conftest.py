"""The device the Triton backend's tests run on: CUDA, else CPU under Triton's interpreter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture
def device() -> Iterator[torch.device]:
    """``cuda`` when available, else ``cpu`` with ``TRITON_INTERPRET=1`` for the test."""
    pytest.importorskip("triton")
    if torch.cuda.is_available():
        yield torch.device("cuda")
        return
    from hybridnets.kernels.interpret import cpu_interpreter

    with cpu_interpreter():
        yield torch.device("cpu")
