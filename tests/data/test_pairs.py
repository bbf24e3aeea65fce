"""Image–caption sources: MedPix 2.0 layout and CSV/JSONL tables (synthetic fixtures), 2D and
3D, and errors that name the row and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hybridnets.data.images import read_image
from hybridnets.data.pairs import (
    PairsFormatError,
    has_split,
    load_pairs,
    read_medpix,
    read_table,
)
from hybridnets.data.table import TableFormatError


def test_medpix_layout(tmp_path: Path, medpix_like) -> None:
    root = medpix_like(tmp_path / "medpix2")
    pairs = read_medpix(root, "train", in_chans=1, size=16)
    assert len(pairs) == 3 and pairs.images.shape == (3, 1, 16, 16) and pairs.spatial_dims == 2
    assert pairs.texts[0] == "Axial CT of the train 0"  # whitespace collapsed
    assert pairs.labels["modality"] == ["CT", "MR", "CT"]
    assert pairs.label_index("region", pairs.classes["region"]).tolist() == [0, 1, 2]
    # a 40x20 image padded to a square: black bands above and below, grey in the middle
    column = pairs.images[1, 0, :, 8]
    assert column[0] == 0 and column[8] == pytest.approx(200 / 255, abs=0.02)
    assert read_medpix(root, "val", size=16).split == "val" and has_split(root, "dev")
    assert load_pairs(root, "test", in_chans=3, size=8).images.shape == (3, 3, 8, 8)


def test_medpix_errors_name_the_row_and_the_fix(tmp_path: Path, medpix_like) -> None:
    with pytest.raises(PairsFormatError, match=r"not a MedPix 2\.0 folder"):
        read_medpix(tmp_path, "train")
    root = medpix_like(tmp_path / "m")
    (root / "images" / "MPX1_train.png").unlink()
    with pytest.raises(
        PairsFormatError,
        match=r"descriptions_train.jsonl row 2: the image cell names .*, which does not exist",
    ):
        read_medpix(root, "train", size=16)
    lines = (root / "splits" / "descriptions_test.jsonl").read_text().splitlines()
    record = json.loads(lines[1])
    record["Description"] = {}
    lines[1] = json.dumps(record)
    (root / "splits" / "descriptions_test.jsonl").write_text("\n".join(lines))
    with pytest.raises(PairsFormatError, match=r"row 2: no Caption.*fix or remove the row"):
        read_medpix(root, "test")


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_tables(tmp_path: Path, shape_pairs, spatial_dims: int) -> None:
    csv = shape_pairs(tmp_path, spatial_dims, n_train=6, n_test=4, size=16)
    train = read_table(csv, "train", in_chans=1, size=8)
    assert train.images.shape == (6, 1, *(8,) * spatial_dims) and train.spatial_dims == spatial_dims
    assert train.labels["label"][:2] == (
        ["square", "circle"] if spatial_dims == 2 else ["cube", "sphere"]
    )
    assert len(read_table(csv, None, size=8)) == 10 and not has_split(csv, "val")
    rows = [
        json.dumps({"image": f"test_{i}.{'png' if spatial_dims == 2 else 'npy'}", "text": "x"})
        for i in range(2)
    ]
    (tmp_path / "pairs.jsonl").write_text("\n".join(rows))
    jsonl = read_table(tmp_path / "pairs.jsonl", size=8)
    assert len(jsonl) == 2 and jsonl.labels == {}


def test_table_errors_name_the_row_and_the_fix(tmp_path: Path, shape_pairs) -> None:
    shape_pairs(tmp_path, 2, n_train=3, n_test=2, size=16)
    (tmp_path / "no_split.csv").write_text("image,text\ntrain_0.png,a\n")
    with pytest.raises(PairsFormatError, match=r"no 'split' column.*test_data"):
        read_table(tmp_path / "no_split.csv", "train")
    (tmp_path / "no_text.csv").write_text("image,caption\ntrain_0.png,a\n")
    with pytest.raises(PairsFormatError, match=r"row 1: no 'text' value.*text_col"):
        read_table(tmp_path / "no_text.csv")
    assert len(read_table(tmp_path / "no_text.csv", text_col="caption", size=8)) == 1
    (tmp_path / "missing.csv").write_text("image,text\ntrain_0.png,a\nnowhere.png,b\n")
    with pytest.raises(
        PairsFormatError,
        match=r"missing.csv row 2: the image cell names .*nowhere.png, which does not exist",
    ):
        read_table(tmp_path / "missing.csv", size=8)
    (tmp_path / "mixed.csv").write_text("image,text\ntrain_0.png,a\nbig.png,b\n")
    Image.new("L", (8, 8)).save(tmp_path / "big.png")
    with pytest.raises(PairsFormatError, match=r"row 2: .* pass size="):
        read_table(tmp_path / "mixed.csv", size=None)
    (tmp_path / "pairs.txt").write_text("image,text\n")
    with pytest.raises(TableFormatError, match=r"\.csv, \.jsonl or \.parquet"):
        read_table(tmp_path / "pairs.txt")


def test_read_image_channels_and_volumes(tmp_path: Path) -> None:
    Image.new("RGB", (10, 10), color=(255, 0, 0)).save(tmp_path / "red.png")
    assert read_image(tmp_path / "red.png", in_chans=3).shape == (3, 10, 10)
    assert read_image(tmp_path / "red.png", in_chans=1).shape == (1, 10, 10)
    np.save(tmp_path / "vol.npy", np.ones((2, 4, 4, 4), dtype=np.float32))
    assert read_image(tmp_path / "vol.npy", in_chans=1, size=8).shape == (1, 8, 8, 8)
    with pytest.raises(ValueError, match="has 2 channels, cannot make 3"):
        read_image(tmp_path / "vol.npy", in_chans=3)
    np.save(tmp_path / "flat.npy", np.ones((4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(D, H, W\)"):
        read_image(tmp_path / "flat.npy")
    assert torch.equal(read_image(tmp_path / "vol.npy")[0], torch.ones(4, 4, 4))
    Image.new("L", (20, 10), color=200).save(tmp_path / "wide.png")
    padded = read_image(tmp_path / "wide.png", square=True)  # aspect kept, black bands
    assert padded.shape == (1, 20, 20) and padded[0, 0, 0] == 0 and padded[0, 10, 10] > 0.7


def _case_topics(root: Path, cases: dict[str, dict]) -> None:
    """Give the MedPix-like images cases (``U_id``) and write ``Case_topic.json``."""
    for split in ("train", "dev", "test"):
        path = root / "splits" / f"descriptions_{split}.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for i, record in enumerate(records):
            record["U_id"] = f"MPX{i}"
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    topics = [{"U_id": k, "Case": v} for k, v in cases.items()]
    (root / "Case_topic.json").write_text(json.dumps(topics))


def test_medpix_extra_texts_are_the_case_title_and_findings(tmp_path: Path, medpix_like) -> None:
    root = medpix_like(tmp_path / "medpix2")
    assert read_medpix(root, "train", size=8).extra_texts == []  # no Case_topic.json
    _case_topics(
        root,
        {
            "MPX0": {"Title": "Bladder Diverticulum", "Findings": "Thick  bladder\nwall."},
            "MPX1": {"Title": "N/A", "Findings": "Enlarged prostate"},
            "MPX2": {"Title": "", "Findings": "N/A"},
        },
    )
    pairs = read_medpix(root, "train", size=8)
    assert pairs.extra_texts == [
        "Bladder Diverticulum. Thick bladder wall.",
        "Enlarged prostate.",
        "",
    ]
    assert pairs.subset(torch.tensor([1])).extra_texts == ["Enlarged prostate."]
    assert pairs.texts[0] == "Axial CT of the train 0"  # captions unchanged
    (root / "Case_topic.json").write_text("{not json")
    with pytest.raises(PairsFormatError, match=r"Case_topic.json: not JSON"):
        read_medpix(root, "train", size=8)


def test_table_extra_text_column(tmp_path: Path) -> None:
    Image.new("L", (8, 8), 90).save(tmp_path / "a.png")
    rows = [
        {"image": "a.png", "text": "a scan", "extra_text": "its  report"},
        {"image": "a.png", "text": "b scan", "extra_text": ""},
    ]
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert read_table(tmp_path / "p.jsonl", size=8).extra_texts == ["its report", ""]
    assert read_table(tmp_path / "p.jsonl", size=8, extra_text_col="other").extra_texts == []


def test_pair_paths_outside_the_tables_folder_are_refused_unless_allowed(tmp_path: Path) -> None:
    """Alignment and pretraining tables follow the training tables' rule (issue 31, item 10)."""
    from hybridnets.align.__main__ import parse_args
    from hybridnets.data.unlabelled import UnlabelledImages

    (tmp_path / "tables").mkdir()
    (tmp_path / "images").mkdir()
    for i in range(3):
        Image.new("L", (8, 8), 40 * i).save(tmp_path / "images" / f"{i}.png")
    rows = [f"../images/{i}.png,a grey square {i},{s}" for i, s in enumerate(("train", "test"))]
    table = tmp_path / "tables" / "pairs.csv"
    table.write_text(
        "image,text,split\n" + f"{tmp_path}/images/2.png,a square,train\n" + "\n".join(rows)
    )
    with pytest.raises(
        PairsFormatError,
        match=r"row 1: the image cell names .*outside the table's folder \(set `allow_outside_paths=True`",
    ):
        read_table(table, "train", 1, 8)
    assert len(read_table(table, "train", 1, 8, allow_outside_paths=True)) == 2
    with pytest.raises(PairsFormatError, match="outside the table's folder"):
        UnlabelledImages([table], size=8)
    assert len(UnlabelledImages([table], size=8, allow_outside_paths=True)) == 2
    flagged = parse_args(["--model", "convvit_n", "--data", str(table), "--allow-outside-paths"])
    assert (
        flagged.allow_outside_paths
        and not parse_args(["--model", "convvit_n", "--data", str(table)]).allow_outside_paths
    )


def test_an_empty_or_folder_image_cell_says_so(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    table = tmp_path / "pairs.csv"
    table.write_text("image,text\nsub,a folder\n")
    with pytest.raises(PairsFormatError, match=r"row 1: the image cell names a folder"):
        read_table(table, None, 1, 8)
