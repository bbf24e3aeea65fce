"""benchmarks/align_transfer.py: the MedPix region file, each step's command, the summary, and a
clear skip without data."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import align_transfer
import pytest

from hybridnets.data import MedMNIST


def test_region_file_is_a_medmnist_file_of_body_regions(tmp_path: Path, medpix_like) -> None:
    root = medpix_like(tmp_path / "medpix", n=5)
    path = align_transfer.region_npz(root, tmp_path / "regions.npz", size=16)
    train = MedMNIST(path, "train")
    assert train.images.shape == (5, 1, 16, 16) and train.labels.tolist() == [0, 1, 2, 3, 4]
    assert len(MedMNIST(path, "val")) == 5 and len(MedMNIST(path, "test")) == 5


def test_steps_of_one_seed(tmp_path: Path) -> None:
    args = argparse.Namespace(
        runs=tmp_path / "out", align_runs=tmp_path / "align", align_run="convvit_n+extra0.5@64"
    )
    steps = dict(
        (path.relative_to(args.runs).as_posix(), argv)
        for path, argv in align_transfer.jobs(2, args, tmp_path / "r.npz")
    )
    tower = str(args.align_runs / "convvit_n+extra0.5@64__s2" / "image_tower")
    lora = steps["lora__s2/result.json"]
    assert lora[lora.index("--pretrained") + 1] == tower and "--lora-rank" in lora
    assert "--lora-rank" not in steps["full__s2/result.json"]
    probe = steps["probe_pneumonia_aligned__s2.json"]
    assert probe[probe.index("--subsample") + 1] == "0.106202"
    assert probe[-1] == str(args.runs / "probe_pneumonia_aligned__s2.json")
    sup = steps["probe_region_supervised__s2.json"]
    assert sup[sup.index("--model") + 1] == str(args.runs / "supervised__s2" / "best")


def _probe(acc: float) -> dict:
    return {"results": {"logreg": {"test_acc": acc}, "linear_svc": {"test_acc": acc - 0.1}}}


def test_summary_means_over_seeds(tmp_path: Path) -> None:
    for seed, acc in ((0, 0.6), (1, 0.8)):
        (tmp_path / f"probe_region_aligned__s{seed}.json").write_text(json.dumps(_probe(acc)))
        folder = tmp_path / f"lora__s{seed}"
        folder.mkdir()
        result = {"test": {"acc": acc, "auc": 0.9}, "trainable_params": 12_300,
                  "params": 3_100_000, "wall_time_s": 50.0}  # fmt: skip
        (folder / "result.json").write_text(json.dumps(result))
    rows = json.loads(align_transfer.summary(tmp_path, tmp_path).read_text())
    assert rows["MedPix regions: linear probe, aligned convvit_n"]["test_acc"] == pytest.approx(
        [0.7, 0.1414], abs=1e-4
    )
    md = (tmp_path / "align_transfer.md").read_text()
    assert "| Pneumonia 500: lora fine-tuning of the aligned tower | 2 | 0.700 ± 0.141 | " in md
    assert "12.3k of 3.10M" in md


def test_without_data_it_says_what_it_needs(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("MEDPIX2_DIR", str(tmp_path / "none"))
    with caplog.at_level(logging.WARNING):
        assert align_transfer.main(["run", "--runs", str(tmp_path / "runs")]) == 0
    assert "needs MedPix 2.0" in caplog.text and "MEDMNIST_DIR" in caplog.text
