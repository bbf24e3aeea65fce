"""benchmarks/scale_out.py on a tiny toy: 1 vs 2 processes agree, and the table is written."""

from __future__ import annotations

import json
from pathlib import Path

import scale_out


def test_one_vs_two_processes_on_a_toy(tmp_path: Path, monkeypatch, patch_toy) -> None:
    patch_toy(tmp_path / "pneumoniamnist.npz", n_train=40)  # adrenal3d: absent, skipped
    monkeypatch.setenv("MEDMNIST_DIR", str(tmp_path))
    out = tmp_path / "scale.json"
    argv = ["--model", "test_vit", "--settings", "pneumonia,adrenal3d", "--epochs", "1"]
    argv += ["--batch-size", "8", "--max-train-samples", "40", "--json", str(out)]
    argv += ["--model-kwargs", '{"img_size": 16, "patch_size": 4}']
    rows = scale_out.main(argv)
    assert [(r["setting"], r["processes"]) for r in rows] == [("pneumonia", 1), ("pneumonia", 2)]
    assert rows[0]["max_rel_gap"] == 0 and rows[1]["max_rel_gap"] < 1e-5
    assert all(r["images_per_s"] > 0 for r in rows)
    assert json.loads(out.read_text())["rows"] == rows
    assert "| setting |" in out.with_suffix(".md").read_text()
