"""Tests for benchmarks/flops.py."""

from __future__ import annotations

import json
from pathlib import Path

import flops as flops_bench
import pytest


def test_flops_script_2d_and_3d(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "flops.json"
    result = flops_bench.main(
        ["--models", "convvit_test,resnet18", "--input-size", "32", "--torch-check",
         "--json", str(out)]
    )  # fmt: skip
    hyb, res = result["rows"]
    assert hyb["source"] == "hybridnets" and res["source"] == "timm"
    assert res["gmacs"] == pytest.approx(1.82 * (32 / 224) ** 2, rel=0.05)
    assert 0 < hyb["gmacs_torch"] <= hyb["gmacs"]  # torch's counter leaves out the norms
    assert json.loads(out.read_text())["rows"] == result["rows"]
    assert "| convvit_test | hybridnets |" in capsys.readouterr().out

    result = flops_bench.main(
        ["--models", "convvit_test,resnet18", "--input-size", "16,16,16", "24,24,24"]
    )
    rows = {(r["model"], r["input_size"][0]): r for r in result["rows"]}
    assert rows["convvit_test", 24]["gmacs"] > rows["convvit_test", 16]["gmacs"] > 0
    assert "2D only" in rows["resnet18", 16]["error"]
    assert "n/a" in capsys.readouterr().out
