"""``benchmarks/gpu_check.sh`` (``make gpu-check``) refuses to run without CUDA, saying why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the check would run for real")
def test_without_cuda_exits_non_zero_with_a_message(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_OUT": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "no CUDA device" in result.stderr
    assert not any(tmp_path.iterdir())  # nothing written
