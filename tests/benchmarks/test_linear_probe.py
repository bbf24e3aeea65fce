"""Smoke test for benchmarks/linear_probe.py on a tiny subset of real data."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location(
        "linear_probe", ROOT / "benchmarks" / "linear_probe.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_separable_features() -> None:
    lp = _load()
    rng = np.random.default_rng(0)

    def split(n: int):
        y = np.arange(n) % 2
        return rng.normal(size=(n, 4)) + 3 * y[:, None], y

    res = lp.probe(
        {"train": split(40), "val": split(20), "test": split(20)}, seeds=3, cs=(0.1, 1.0)
    )
    for name in ("linear_svc", "logreg"):
        assert res[name]["test_acc"] > 0.9 and len(res[name]["runs"]) == 3
        assert res[name]["runs"][0]["C"] in (0.1, 1.0)


def test_cli_tiny_subset(tmp_path: Path, medmnist_file) -> None:
    data = medmnist_file("pneumoniamnist.npz")
    out = tmp_path / "probe.json"
    lp = _load()
    lp.main(
        [
            "--model",
            "test_resnet",
            "--data",
            str(data),
            "--max-samples",
            "96",
            "--seeds",
            "2",
            "--cs",
            "0.1,1",
            "--out",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert result["feature_dim"] > 0 and result["data"] == "pneumoniamnist"
    for r in result["results"].values():
        assert 0 <= r["test_acc"] <= 1 and 0 <= r["test_f1_macro"] <= 1
