"""The benchmark scripts are not a package: put ``benchmarks/`` on the path to import them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    """latency.main sets torch's thread count; give the test process its own back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
