"""benchmarks/align_transfer.py: the MedPix region file, each step's command, the summary, and a
clear skip without data."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import align_transfer
import linear_probe
import pytest

from hybridnets.data import MedMNIST


def test_region_file_is_a_medmnist_file_of_body_regions(tmp_path: Path, medpix_like) -> None:
    root = medpix_like(tmp_path / "medpix", n=5)
    path = align_transfer.region_npz(root, tmp_path / "regions.npz", size=16)
    train = MedMNIST(path, "train")
    assert train.images.shape == (5, 1, 16, 16) and train.labels.tolist() == [0, 1, 2, 3, 4]
    assert len(MedMNIST(path, "val")) == 5 and len(MedMNIST(path, "test")) == 5


def _steps(tmp_path: Path, seed: int) -> tuple[argparse.Namespace, dict]:
    args = argparse.Namespace(
        runs=tmp_path / "out", align_runs=tmp_path / "align", align_run="convvit_n+extra0.5@64"
    )
    steps = align_transfer.jobs(seed, args, tmp_path / "r.npz")
    return args, {path.relative_to(args.runs).as_posix(): step for path, step in steps}


def test_steps_of_one_seed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEDMNIST_DIR", str(tmp_path / "medmnist"))
    args, steps = _steps(tmp_path, 2)
    order = list(steps)  # the supervised model is trained before it is probed
    assert order.index("supervised__s2/result.json") < order.index(
        "probe_region_supervised__s2.json"
    )
    tower = str(args.align_runs / "convvit_n+extra0.5@64__s2" / "image_tower")
    lora, full = steps["lora__s2/result.json"], steps["full__s2/result.json"]
    assert lora.pretrained == tower and lora.lora_rank == 8 and full.lora_rank is None
    assert dataclasses.replace(lora, lora_rank=None, out_dir=full.out_dir) == full
    assert full.data == str(tmp_path / "medmnist" / "pneumoniamnist.npz")
    probe = steps["probe_pneumonia_aligned__s2.json"]
    assert probe.subsample == 0.106202 and probe.model == tower and probe.seeds == 1
    sup = steps["probe_region_supervised__s2.json"]
    assert sup.model == str(args.runs / "supervised__s2" / "best") and sup.subsample == 1.0


def test_steps_have_the_settings_of_their_former_command_lines(
    tmp_path: Path, monkeypatch, parse_old_command
) -> None:
    """The "before" anchor: the steps equal what the sweep's command lines of them parsed
    into before the sweep built configs (the probes: ``linear_probe.py``'s own parser)."""
    monkeypatch.setenv("MEDMNIST_DIR", str(tmp_path / "medmnist"))
    args, steps = _steps(tmp_path, 1)
    tower = str(args.align_runs / "convvit_n+extra0.5@64__s1" / "image_tower")
    pneumonia, runs = str(tmp_path / "medmnist" / "pneumoniamnist.npz"), args.runs
    train = [sys.executable, "-m", "hybridnets.train", "--model", "convvit_n", "--seed", "1",
             "--num-threads", "1", "--no-progress"]  # fmt: skip
    before = [*train, "--data", str(tmp_path / "r.npz"), "--epochs", "12",
              "--out", str(runs / "supervised__s1")]  # fmt: skip
    assert steps["supervised__s1/result.json"] == parse_old_command(before)
    before = [*train, "--data", pneumonia, "--epochs", "30", "--max-train-samples", "500",
              "--pretrained", tower, "--lora-rank", "8", "--out", str(runs / "lora__s1")]  # fmt: skip
    assert steps["lora__s1/result.json"] == parse_old_command(before)
    out = str(runs / "probe_pneumonia_aligned__s1.json")
    before = ["--seeds", "1", "--model", tower, "--data", pneumonia, "--subsample", "0.106202",
              "--out", out]  # fmt: skip
    assert (steps["probe_pneumonia_aligned__s1.json"], out) == linear_probe.parse_args(before)


def test_a_failed_probe_is_logged_and_the_sweep_goes_on(tmp_path: Path, caplog) -> None:
    config = linear_probe.ProbeConfig(model="convvit_n", data=str(tmp_path / "missing.npz"))
    with caplog.at_level(logging.ERROR):
        align_transfer._probe(config, tmp_path / "probe.json")
    assert "probe of convvit_n" in caplog.text and not (tmp_path / "probe.json").exists()


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
