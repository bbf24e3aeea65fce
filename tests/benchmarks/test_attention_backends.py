"""``benchmarks/attention_backends.py`` runs on CPU with tiny shapes and writes its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch


@pytest.fixture
def kernels_script():
    import attention_backends

    return attention_backends


def test_cpu_rows_and_json(kernels_script, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    out = tmp_path / "kernels.json"
    argv = ["--device", "cpu", "--shapes", "tiny_2d,tiny_cross", "--iters", "1", "--warmup", "0"]
    rows = kernels_script.main([*argv, "--json", str(out)])
    by_backend = {(r["shape"], r["backend"], r["mode"]): r for r in rows}
    assert by_backend[("tiny_2d", "sdpa", "fwd")]["ms"] > 0
    assert by_backend[("tiny_2d", "sdpa", "fwd")]["sdpa_kernel"]
    assert by_backend[("tiny_cross", "reference", "fwd+bwd")]["max_err"] == 0
    assert "TRITON_INTERPRET" in by_backend[("tiny_2d", "triton", "fwd")]["error"]
    assert "| tiny_2d |" in capsys.readouterr().out
    assert len(json.loads(out.read_text())["rows"]) == len(rows)


@pytest.mark.skipif(torch.cuda.is_available(), reason="kernels may already be compiled for CUDA")
def test_cpu_interpreted_triton(kernels_script, tmp_path):
    """``--interpret`` as a user runs it, in a process of its own: Triton interprets only kernels
    first imported under the interpreter, and an earlier test in this worker (the docs' export
    guide) may already have imported them compiled."""
    pytest.importorskip("triton")
    out = tmp_path / "kernels.json"
    argv = ["--device", "cpu", "--shapes", "tiny_3d", "--backends", "triton", "--iters", "1"]
    argv += ["--warmup", "0", "--interpret", "--json", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    script = [sys.executable, kernels_script.__file__]
    subprocess.run([*script, *argv], check=True, env=env, capture_output=True, timeout=600)
    rows = json.loads(out.read_text())["rows"]
    assert [r["mode"] for r in rows] == ["fwd", "fwd+bwd"]
    assert all("error" not in r and r["max_err"] < 1e-4 for r in rows), rows
