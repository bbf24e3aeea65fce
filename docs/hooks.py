"""MkDocs hook: generate the results pages from benchmarks/results/*.json before each build."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import results


def on_pre_build(config, **kwargs) -> None:
    results.generate()
