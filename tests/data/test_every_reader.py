"""One data layer: every recipe reads NIfTI volumes (float32 whatever the file's dtype) and every
table reader takes a CSV that starts with a UTF-8 byte-order mark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hybridnets.data.images import read_image
from hybridnets.data.pairs import read_table
from hybridnets.data.table import load_table, read_rows
from hybridnets.data.unlabelled import UnlabelledImages

BOM = "\ufeff"


def _write_volumes(folder: Path, n: int, dtype: type = np.float64) -> list[str]:
    """``n`` 16³ NIfTI volumes in HU-like ranges (a bright cube in odd ones)."""
    nib = pytest.importorskip("nibabel")
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        x = rng.normal(-500, 80, (16, 16, 16))
        x[4:10, 4:10, 4:10] += 900 * (i % 2)
        name = f"vol{i}.nii.gz"
        nib.save(nib.Nifti1Image(x.astype(dtype), np.eye(4)), folder / name)
        names.append(name)
    return names


@pytest.mark.parametrize("dtype", [np.float64, np.int16, np.float32])
def test_volumes_read_as_float32_in_the_unit_range(tmp_path: Path, dtype) -> None:
    (name,) = _write_volumes(tmp_path, 1, dtype)
    x = read_image(tmp_path / name)
    assert x.dtype == torch.float32 and x.shape == (1, 16, 16, 16)
    assert x.min() >= 0 and x.max() <= 1


def _volume_table(folder: Path, n: int = 12) -> Path:
    names = _write_volumes(folder, n)
    split = ["train"] * 6 + ["val"] * 2 + ["test"] * (n - 8)
    lines = ["image,label,text,split"] + [
        f"{name},{i % 2},{'a bright cube' if i % 2 else 'a dark scan'},{split[i]}"
        for i, name in enumerate(names)
    ]
    (folder / "volumes.csv").write_text("\n".join(lines) + "\n")
    return folder / "volumes.csv"


def test_nifti_volumes_train(tmp_path: Path) -> None:
    from hybridnets.train import TrainConfig, train

    table = _volume_table(tmp_path / "data")
    config = TrainConfig(model="convvit_test", data=str(table), split_col="split", input_size=16, epochs=1,
                         batch_size=4, out_dir=str(tmp_path / "run"), progress=False)  # fmt: skip
    assert train(config)["epochs_run"] == 1


def test_nifti_volumes_pretrain(tmp_path: Path) -> None:
    from hybridnets.pretrain.config import PretrainConfig
    from hybridnets.pretrain.recipe import pretrain

    _write_volumes(tmp_path / "scans", 6)
    config = PretrainConfig(model="convvit_test", data=str(tmp_path / "scans"), epochs=1,
                            batch_size=3, decoder_dim=16, out_dir=str(tmp_path / "run"),
                            progress=False)  # fmt: skip
    assert pretrain(config)["epochs_run"] == 1


def test_nifti_volumes_align(tmp_path: Path, tiny_text_model: Path) -> None:
    from hybridnets.align import AlignConfig, align

    table = _volume_table(tmp_path / "data")
    config = AlignConfig(model="convvit_test", data=str(table), text_model=str(tiny_text_model),
                         input_size=16, embed_dim=8, epochs=1, batch_size=3,
                         out_dir=str(tmp_path / "run"), progress=False)  # fmt: skip
    assert align(config)["epochs_run"] == 1


def test_a_byte_order_mark_reaches_no_reader(tmp_path: Path) -> None:
    for i in range(4):
        Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    rows = [f"{i}.png,{i % 2},scan {i},{'train' if i < 2 else 'test'}" for i in range(4)]
    table = tmp_path / "bom.csv"
    table.write_text(BOM + "image,label,text,split\n" + "\n".join(rows) + "\n", encoding="utf-8")

    assert list(read_rows(table)[0]) == ["image", "label", "text", "split"]
    assert len(load_table(table, "image", "label")) == 4
    assert read_table(table, "test", size=8).texts == ["scan 2", "scan 3"]
    assert len(UnlabelledImages([table], size=8)) == 2  # the train rows
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_text(BOM + '{"image": "0.png", "text": "scan"}\n', encoding="utf-8")
    assert read_rows(jsonl) == [{"image": "0.png", "text": "scan"}]


def test_a_nan_voxel_is_refused_naming_row_and_file(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    table = _volume_table(tmp_path / "data")
    x = np.zeros((16, 16, 16))
    x[3, 4, 5] = np.nan
    nib.save(nib.Nifti1Image(x, np.eye(4)), tmp_path / "data" / "vol9.nii.gz")
    from hybridnets.data.split_table import table_splits
    from hybridnets.data.table import TableFormatError

    with pytest.raises(
        TableFormatError, match=r"row 9 \(line 11\): .*vol9.nii.gz: 1 of 4096 values"
    ):
        table_splits(table, "image", "label", split_col="split", size=16)


def test_a_table_of_one_class_is_refused(tmp_path: Path) -> None:
    from hybridnets.data.split_table import table_splits
    from hybridnets.data.table import TableFormatError

    for i in range(6):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "t.csv").write_text("image,label\n" + "".join(f"{i}.png,cat\n" for i in range(6)))
    with pytest.raises(TableFormatError, match=r"every row's 'label' is 'cat'.*two classes"):
        table_splits(tmp_path / "t.csv", "image", "label", size=8)


def test_text_model_folders_that_hold_nothing_are_named(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from hybridnets.multimodal import TextTower

    with pytest.raises(FileNotFoundError, match=r"does not exist; leave the text model unset"):
        TextTower(str(tmp_path / "no_such_model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"holds no Hugging Face model \(no config.json"):
        TextTower(str(tmp_path / "empty"))
