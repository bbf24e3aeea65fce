"""HAM10000's metadata as the train recipe's table (synthetic HAM-like folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridnets.data.ham10000 import HAM10000_CLINICAL, write_ham10000_table
from hybridnets.data.table import read_rows


def test_table_has_paths_labels_clinical_columns_and_lesions(tmp_path: Path, ham_like) -> None:
    folder = ham_like(tmp_path / "ham", n=6)
    rows = read_rows(write_ham10000_table(folder, tmp_path / "out" / "ham.csv"))
    assert list(rows[0]) == ["image_path", "dx", *HAM10000_CLINICAL, "lesion_id"]
    assert len(rows) == 6 and all(Path(r["image_path"]).is_file() for r in rows)
    assert rows[2]["lesion_id"] == rows[3]["lesion_id"] and "dx_type" not in rows[0]


def test_a_folder_without_metadata_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a HAM10000 folder"):
        write_ham10000_table(tmp_path, tmp_path / "ham.csv")
