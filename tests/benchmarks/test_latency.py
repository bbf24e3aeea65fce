"""Tests for benchmarks/latency.py: a smoke run, the row keys, OOM rows, helpers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import latency
import pytest
import torch
from torch import Tensor, nn

REQUIRED_KEYS = {
    "model",
    "params_m",
    "gmacs",
    "latency_ms_p50",
    "latency_ms_p90",
    "throughput",
    "peak_mem_mb",
    "device",
    "dtype",
    "batch_size",
    "mode",
}


def test_smoke_timm_resnet18(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lat.json"
    result = latency.main(
        ["--models", "resnet18", "--input-size", "32", "--batch-size", "1", "--warmup", "0",
         "--iters", "1", "--device", "cpu", "--threads", "1", "--json", str(out),
         "--csv", str(tmp_path / "lat.csv"), "--plot", str(tmp_path / "lat.png"), "--markdown"]
    )  # fmt: skip
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(result))
    (row,) = saved["rows"]
    assert set(row) == REQUIRED_KEYS == set(latency.ROW_KEYS)
    assert row["model"] == "resnet18" and row["batch_size"] == 1 and row["mode"] == "infer"
    assert row["device"] == "cpu" and row["dtype"] == "fp32"
    assert row["params_m"] == pytest.approx(11.69, abs=0.01)
    assert row["gmacs"] == pytest.approx(1.82 * (32 / 224) ** 2, rel=0.05)
    assert row["latency_ms_p50"] > 0 and row["throughput"] > 0 and row["peak_mem_mb"] >= 0
    env = saved["env"]
    for key in ("torch", "triton", "timm", "monai", "device_name", "threads"):
        assert key in env
    assert env["threads"] == 1
    header = (tmp_path / "lat.csv").read_text().splitlines()[0].split(",")
    assert header[: len(latency.ROW_KEYS)] == list(latency.ROW_KEYS)
    assert (tmp_path / "lat.png").stat().st_size > 0
    stdout = capsys.readouterr().out
    assert "| model | batch | mode |" in stdout and "| resnet18 | 1 | infer |" in stdout


def test_hybridnets_3d_train_bf16(capsys: pytest.CaptureFixture[str]) -> None:
    result = latency.main(
        ["--models", "convvit_test", "--input-size", "16,16,16", "--batch-size", "2",
         "--mode", "both", "--dtype", "bf16", "--warmup", "0", "--iters", "1",
         "--device", "cpu", "--threads", "1", "--channels-last"]
    )  # fmt: skip
    infer, train = result["rows"]
    assert (infer["mode"], train["mode"]) == ("infer", "train")
    assert all(r["latency_ms_p50"] > 0 and r["dtype"] == "bf16" for r in (infer, train))
    assert infer["gmacs"] == train["gmacs"] > 0
    settings = result["settings"]
    assert settings["precision"] == "AMP autocast to bf16"
    assert settings["input_size"] == [16, 16, 16] and settings["in_chans"] == 1
    assert "AMP autocast to bf16" in capsys.readouterr().err


class FakeOOMNet(nn.Module):
    """Runs at batch sizes below ``limit`` and raises CUDA out-of-memory above."""

    def __init__(self, limit: int = 4) -> None:
        super().__init__()
        self.limit = limit
        self.fc = nn.Linear(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[0] >= self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.fc(x.mean(dim=(2, 3)))


def test_oom_becomes_a_row(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(latency, "model_for_input", lambda *args, **kwargs: FakeOOMNet())
    result = latency.main(
        ["--models", "resnet18", "--input-size", "8", "--batch-size", "2,4,8", "--warmup", "0",
         "--iters", "1", "--device", "cpu", "--threads", "1", "--json", str(tmp_path / "o.json")]
    )  # fmt: skip
    ok, oom, skipped = result["rows"]
    assert "error" not in ok and ok["latency_ms_p50"] > 0
    assert oom["error"] == "out of memory at batch size 4" and oom["latency_ms_p50"] is None
    assert skipped["error"].startswith("skipped") and skipped["batch_size"] == 8
    assert set(REQUIRED_KEYS) <= set(oom)


def test_other_errors_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(FakeOOMNet):
        def forward(self, x: Tensor) -> Tensor:
            raise RuntimeError("shape mismatch")

    monkeypatch.setattr(latency, "model_for_input", lambda *args, **kwargs: Broken())
    with pytest.raises(RuntimeError, match="shape mismatch"):
        latency.main(["--models", "resnet18", "--input-size", "8", "--iters", "1",
                      "--device", "cpu", "--threads", "1"])  # fmt: skip


def test_unknown_model_fails_before_running() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        latency.main(["--models", "resnet18,not_a_model", "--device", "cpu"])


def test_is_oom() -> None:
    assert latency.is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert latency.is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried"))
    assert latency.is_oom(MemoryError())
    assert not latency.is_oom(RuntimeError("size mismatch"))
    assert not latency.is_oom(ValueError("out of memory"))


def test_percentile_matches_numpy_definition() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert latency.percentile(values, 50) == 3.0
    assert latency.percentile(values, 90) == pytest.approx(4.6)
    assert latency.percentile([7.0], 90) == 7.0


def test_plot_without_matplotlib_fails_before_running(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    monkeypatch.setattr(latency, "benchmark_model", lambda *a, **k: pytest.fail("ran first"))
    with pytest.raises(SystemExit, match=r"--plot needs matplotlib"):
        latency.main(
            ["--models", "resnet18", "--device", "cpu", "--threads", "1",
             "--json", str(tmp_path / "l.json"), "--plot", str(tmp_path / "l.png")]
        )  # fmt: skip
    assert not (tmp_path / "l.json").exists()
