"""benchmarks/medpix_classes.py: MedPix 2.0 as a MedMNIST-format classification file."""

from __future__ import annotations

import json
from pathlib import Path

import medpix_classes
import numpy as np
import pytest
import small_data
from PIL import Image

from hybridnets.data import MedMNIST

REGIONS = ("Thorax", "Head", "Abdomen")


def _medpix(root: Path) -> Path:
    """A MedPix-shaped folder: per split, one record per region; the first image of every split
    is a wide RGB image, the others grey squares whose value encodes split and region."""
    (root / "images").mkdir(parents=True)
    (root / "splits").mkdir()
    for s, split in enumerate(("train", "dev", "test")):
        rows = []
        for r, region in enumerate(REGIONS):
            name = f"MPX{s}_synpic{r}"
            if r == 0:
                Image.new("RGB", (40, 20), (200, 100, 0)).save(root / "images" / f"{name}.png")
            else:
                Image.new("L", (30, 30), 10 * s + r).save(root / "images" / f"{name}.png")
            rows.append({"image": name, "U_id": f"MPX{s}", "Type": "CT" if r else "MR",
                         "Location Category": region})  # fmt: skip
        (root / "splits" / f"descriptions_{split}.jsonl").write_text(
            "\n".join(json.dumps(row) for row in rows) + "\n"
        )
    return root


def test_region_file_keeps_the_split_and_numbers_classes_in_sorted_order(tmp_path: Path) -> None:
    folder = _medpix(tmp_path / "medpix2")
    dst = medpix_classes.medpix_npz(folder, tmp_path / "out" / "region.npz", "region", size=16)
    with np.load(dst) as data:
        assert list(data["classes"]) == sorted(REGIONS)
        assert data["train_images"].shape == (3, 16, 16) and data["train_images"].dtype == np.uint8
        assert data["test_labels"][:, 0].tolist() == [sorted(REGIONS).index(r) for r in REGIONS]
        assert data["val_images"][2, 8, 8] == 10 + 2  # dev is the validation split
        wide = data["train_images"][0]  # letterboxed: the image band in the middle, zeros above
        assert wide[0].max() == 0 and wide[8].min() > 0
    assert [p.name for p in dst.parent.iterdir()] == ["region.npz"]  # no temporary left
    assert MedMNIST(dst, "val").num_classes == 3  # the recipe's reader takes it
    modality = medpix_classes.medpix_npz(folder, tmp_path / "modality.npz", "modality", size=8)
    with np.load(modality) as data:
        assert list(data["classes"]) == ["CT", "MR"] and data["train_labels"][:, 0].tolist() == [
            1,
            0,
            0,
        ]


def test_bad_target_and_missing_folder_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown target 'plane'.*modality"):
        medpix_classes.medpix_npz(tmp_path, tmp_path / "x.npz", "plane")
    with pytest.raises(FileNotFoundError, match=r"descriptions_train.jsonl not found.*MEDPIX2_DIR"):
        medpix_classes.medpix_npz(tmp_path, tmp_path / "x.npz", "region")


def test_small_data_builds_the_medpix_setting_once_under_its_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDPIX2_DIR", str(_medpix(tmp_path / "medpix2")))
    monkeypatch.setenv("MEDMNIST_DIR", str(tmp_path / "none"))
    runs = tmp_path / "runs"
    configs = small_data.configs(["medpix_region_300", "retina"], ["convvit_n"], [0], runs)
    (config,) = configs  # retina's file is missing: skipped
    assert config.data == str(runs / "data" / "medpix_region_300.npz")
    assert (config.epochs, config.max_train_samples) == (30, 300)
    with np.load(config.data) as data:
        assert data["train_images"].shape[1:] == (64, 64)
    (auto,) = small_data.configs(["medpix_region_300_auto"], ["convvit_n"], [0], runs)
    assert auto.data == config.data and auto.epochs == 100  # other epochs, the same file
    assert [p.name for p in (runs / "data").iterdir()] == ["medpix_region_300.npz"]
    monkeypatch.setenv("MEDPIX2_DIR", str(tmp_path / "nowhere"))
    assert small_data.configs(["medpix_region_300_auto"], ["convvit_n"], [0], runs) == []
