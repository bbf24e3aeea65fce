"""HAM10000 (dermoscopy images with age, sex and site; 7 diagnoses) as a training table.

The dataset ships image ids and a metadata CSV, not paths: this writes the table the train
recipe reads (one row per image: path, diagnosis, clinical columns, lesion id for a grouped
split). ``dx_type`` is left out: it leaks the label. HAM10000 is CC BY-NC 4.0 (research use):
doi:10.7910/DVN/DBW86T; it is never shipped with this package.

    table = write_ham10000_table("data/ham10000", "runs/ham10000.csv")
    # python -m hybridnets.train --data runs/ham10000.csv --image-col image_path --label-col dx \\
    #     --group-col lesion_id --tabular age,sex,localization
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hybridnets.atomic import atomic_write_text
from hybridnets.data.table import read_rows

__all__ = ["HAM10000_CLINICAL", "write_ham10000_table"]

HAM10000_CLINICAL = ("age", "sex", "localization")
"""The clinical columns of HAM10000's metadata that a fusion model reads."""


def write_ham10000_table(folder: str | Path, out: str | Path) -> Path:
    """Write ``out``: ``image_path`` (absolute), ``dx``, age, sex, localization, ``lesion_id``
    for every row of ``folder/HAM10000_metadata_ext.csv`` (images in ``folder/images``).

    Raises:
        FileNotFoundError: ``folder`` is not a HAM10000 folder.
    """
    folder = Path(folder).resolve()
    metadata = folder / "HAM10000_metadata_ext.csv"
    if not metadata.is_file():
        raise FileNotFoundError(
            f"{metadata} not found: {folder} is not a HAM10000 folder (HAM10000_metadata_ext.csv "
            "and images/)"
        )
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["image_path", "dx", *HAM10000_CLINICAL, "lesion_id"])
    for row in read_rows(metadata):
        image = folder / "images" / f"{row['image_id']}.jpg"
        writer.writerow([image, row["dx"], *(row[c] for c in HAM10000_CLINICAL), row["lesion_id"]])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out, text.getvalue())
