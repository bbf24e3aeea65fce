"""Tables of image paths + labels + clinical columns: reading, lazy cached images (2D and 3D),
errors that name the column or row and the fix, and grouped stratified splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hybridnets.data import TableFormatError, grouped_split, load_table
from hybridnets.data.table import read_rows


def write_table(folder: Path, n: int = 6, spatial_dims: int = 2) -> Path:
    """``table.csv`` and its images in ``img/``: labels alternate ``benign``/``malignant``."""
    (folder / "img").mkdir()
    lines = ["path,dx,age,sex,patient"]
    for i in range(n):
        if spatial_dims == 2:
            from PIL import Image

            Image.new("L", (20, 12), color=40 * i).save(folder / "img" / f"{i}.png")
            name = f"img/{i}.png"
        else:
            import nibabel as nib

            volume = np.random.default_rng(i).random((8, 8, 8)).astype(np.float32)
            nib.save(nib.Nifti1Image(volume, np.eye(4)), folder / "img" / f"{i}.nii.gz")
            name = f"img/{i}.nii.gz"
        age = "" if i == 1 else str(30 + i)
        lines.append(f"{name},{('benign', 'malignant')[i % 2]},{age},{'mf'[i % 2]},p{i // 2}")
    (folder / "table.csv").write_text("\n".join(lines) + "\n")
    return folder / "table.csv"


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_load_table_reads_labels_and_images(tmp_path: Path, spatial_dims: int) -> None:
    path = write_table(tmp_path, spatial_dims=spatial_dims)
    table = load_table(
        path,
        "path",
        "dx",
        ["age", "sex"],
        "patient",
        in_chans=1,
        size=16,
        spatial_dims=spatial_dims,
    )
    assert table.classes == ["benign", "malignant"]
    assert table.labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert table.groups == ["p0", "p0", "p1", "p1", "p2", "p2"]
    x = table.images([0, 3])
    assert x.shape == (2, 1, *(16,) * spatial_dims) and 0 <= x.min() <= x.max() <= 1
    assert table.image(0) is table.image(0)  # cached
    assert table.tabular_rows([1]) == [{"age": "", "sex": "f"}]


def test_integer_labels_and_stored_classes(tmp_path: Path) -> None:
    path = write_table(tmp_path)
    text = path.read_text().replace("benign", "2").replace("malignant", "10")
    path.write_text(text)
    assert load_table(path, "path", "dx").classes == ["2", "10"]  # numeric order
    table = load_table(path, "path", "dx", classes=["10", "2"])
    assert table.labels.tolist() == [1, 0, 1, 0, 1, 0]


def test_missing_column_lists_the_available_ones(tmp_path: Path) -> None:
    path = write_table(tmp_path)
    with pytest.raises(TableFormatError, match=r"no column 'lesion_id'; available columns: path"):
        load_table(path, "path", "dx", group_col="lesion_id")


def test_missing_or_unreadable_image_names_the_row_and_the_fix(tmp_path: Path) -> None:
    path = write_table(tmp_path)
    (tmp_path / "img" / "3.png").unlink()
    with pytest.raises(
        TableFormatError,
        match=r"row 3 \(line 5\): the 'path' cell names .*3.png, which does not exist",
    ):
        load_table(path, "path", "dx")
    (tmp_path / "img" / "3.png").mkdir()
    with pytest.raises(TableFormatError, match=r"row 3 \(line 5\): the 'path' cell names a folder"):
        load_table(path, "path", "dx")
    (tmp_path / "img" / "3.png").rmdir()
    rows = path.read_text().splitlines()
    path.write_text("\n".join([*rows[:4], "," + rows[4].split(",", 1)[1], *rows[5:]]) + "\n")
    with pytest.raises(TableFormatError, match=r"row 3 \(line 5\): the 'path' cell is empty"):
        load_table(path, "path", "dx")
    path.write_text("\n".join(rows) + "\n")
    (tmp_path / "img" / "3.png").write_bytes(b"not a png")
    table = load_table(path, "path", "dx")
    with pytest.raises(TableFormatError, match=r"row 3 .*cannot read image.*Fix the 'path' cell"):
        table.image(3)


def test_parquet_without_pandas_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "t.parquet").write_bytes(b"")
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas pyarrow"):
            read_rows(tmp_path / "t.parquet")
    else:
        pytest.skip("pandas and pyarrow are installed")


@pytest.mark.parametrize("seed", [0, 1])
def test_grouped_split_keeps_groups_whole_and_classes_balanced(seed: int) -> None:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(200), rng.integers(1, 4, 200))  # 1–3 images per patient
    labels = np.array([int(g % 5 == 0) for g in groups])  # 20 % positive, constant per group
    train, val, test = grouped_split(groups, torch.from_numpy(labels), seed=seed)
    parts = [set(groups[p]) for p in (train, val, test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(len(labels)))
    for part, share in zip((train, val, test), (0.7, 0.15, 0.15)):
        assert abs(len(part) / len(labels) - share) < 0.06
        assert abs(labels[part].mean() - labels.mean()) < 0.08


def test_grouped_split_without_groups_and_bad_fractions() -> None:
    labels = np.arange(40) % 2
    train, val, test = grouped_split(None, labels, (0.8, 0.0, 0.2))
    assert len(val) == 0 and len(train) + len(test) == 40
    with pytest.raises(ValueError, match="summing to 1"):
        grouped_split(None, labels, (0.8, 0.3, 0.1))


def test_paths_outside_the_tables_folder_are_refused_unless_allowed(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "tables").mkdir()
    (tmp_path / "images").mkdir()
    for i in range(4):
        Image.new("L", (8, 8), 40 * i).save(tmp_path / "images" / f"{i}.png")
    rows = [f"../images/{i}.png,{i % 2}" for i in range(3)] + [f"{tmp_path}/images/3.png,1"]
    table = tmp_path / "tables" / "t.csv"
    table.write_text("path,dx\n" + "\n".join(rows) + "\n")
    with pytest.raises(TableFormatError, match=r"row 0 \(line 2\).*outside the table's folder"):
        load_table(table, "path", "dx")
    assert len(load_table(table, "path", "dx", allow_outside=True)) == 4
