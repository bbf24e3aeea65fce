"""A table as the recipe's splits: a split column or a grouped random split, images read once at
one size (channels inferred), clinical statistics from the training rows only, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hybridnets.data import TableFormatError
from hybridnets.data.split_table import table_splits


def write_rows(folder: Path, n: int = 24, split: bool = True, mode: str = "L") -> Path:
    """``n`` rows: labels a/b alternating, age 20 + i, sex m/f, patient of two rows each."""
    (folder / "img").mkdir(exist_ok=True)
    sides = ["train"] * (n - 8) + ["val"] * 4 + ["test"] * 4
    lines = ["file,y,age,sex,patient" + (",part" if split else "")]
    for i in range(n):
        Image.new(mode, (10, 14), color=10 * i if mode == "L" else (10 * i, 0, 5)).save(
            folder / "img" / f"{i}.png"
        )
        cells = [f"img/{i}.png", "ab"[i % 2], str(20 + i), "mf"[i % 2], f"p{i // 2}"]
        lines.append(",".join(cells + ([sides[i]] if split else [])))
    (folder / "t.csv").write_text("\n".join(lines) + "\n")
    return folder / "t.csv"


def test_split_column_images_and_train_only_statistics(tmp_path: Path) -> None:
    path = write_rows(tmp_path)
    train, val, test, pre = table_splits(
        path, "file", "y", ["age", "sex"], split_col="part", size=8
    )
    assert (len(train), len(val), len(test)) == (16, 4, 4)
    assert train.images.shape == (16, 1, 8, 8) and train.images.dtype == torch.uint8
    assert train.classes == ["a", "b"] and train.labels.tolist() == [0, 1] * 8
    assert pre is not None and pre.mean["age"] == pytest.approx(np.mean(range(20, 36)))
    numeric, missing, categorical = val.extra_inputs(torch.tensor([0, 1]))
    assert numeric.shape == (2, 1) and not missing.any() and categorical.shape == (2, 1)
    assert numeric[0, 0] > 0  # val ages lie above the training mean
    assert train.images[3].float().mean() > train.images[1].float().mean()  # brighter later rows


def test_grouped_random_split_and_rgb_channels(tmp_path: Path) -> None:
    path = write_rows(tmp_path, n=60, split=False, mode="RGB")
    sides = table_splits(path, "file", "y", group_col="patient", size=6, seed=3)
    train, val, test, pre = sides
    assert pre is None and train.extra_inputs(torch.tensor([0])) == ()
    assert train.in_chans == 3 and len(train) + len(val) + len(test) == 60
    again = table_splits(path, "file", "y", group_col="patient", size=6, seed=3)
    assert torch.equal(again[1].images, val.images)  # the seed fixes the split


def test_bad_split_cell_names_the_row(tmp_path: Path) -> None:
    path = write_rows(tmp_path)
    text = path.read_text().replace("img/5.png,b,25,f,p2,train", "img/5.png,b,25,f,p2,holdout")
    path.write_text(text)
    with pytest.raises(TableFormatError, match=r"row 5 \(line 7\).*holdout.*train, val or test"):
        table_splits(path, "file", "y", split_col="part", size=8)
    with pytest.raises(TableFormatError, match="no column 'fold'"):
        table_splits(path, "file", "y", split_col="fold", size=8)


def test_a_class_without_training_rows_is_refused(tmp_path: Path) -> None:
    path = write_rows(tmp_path)
    lines = path.read_text().splitlines()
    lines[-1] = lines[-1].replace(",b,", ",c,")  # the last row (test) holds the only "c"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TableFormatError, match=r"classes \['c'\] have no training row"):
        table_splits(path, "file", "y", split_col="part", size=8)


def _ages_table(folder, bad_row: int, cell: str = "forty"):
    import numpy as np
    from PIL import Image

    lines = ["image,label,age,split"]
    for i in range(24):
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(folder / f"{i}.png")
        age = cell if i == bad_row else str(30 + i)
        lines.append(f"{i}.png,{i % 2},{age},{('train', 'train', 'val', 'test')[i % 4]}")
    (folder / "ages.csv").write_text("\n".join(lines) + "\n")
    return folder / "ages.csv"


@pytest.mark.parametrize("bad_row", [2, 0], ids=["val_row", "train_row"])
def test_text_in_a_numeric_column_names_file_row_and_line(tmp_path, bad_row):
    table = _ages_table(tmp_path, bad_row)
    match = rf"ages.csv, row {bad_row} \(line {bad_row + 2}\): 'age' is 'forty'.*age:cat"
    with pytest.raises(TableFormatError, match=match):
        table_splits(table, "image", "label", ["age"], split_col="split", size=8)
    *_, pre = table_splits(table, "image", "label", {"age": "cat"}, split_col="split", size=8)
    assert pre.categorical == ("age",) and pre.numeric == ()
