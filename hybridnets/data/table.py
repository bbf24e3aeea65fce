"""A table of image paths, labels and clinical columns (CSV, or Parquet with pandas + pyarrow),
and grouped, stratified train/val/test splits.

Image paths are relative to the table's folder (absolute paths work too) and read on demand by
:func:`hybridnets.data.images.read_image` at ``size`` per side, cached in memory once read.
Labels (strings or integers) become class indices; ``classes`` keeps the mapping for the
checkpoint. Tabular cells stay as read: fit a
:class:`~hybridnets.data.tabular.TabularPreprocessor` on the training rows only.

    table = load_table("ham.csv", "image_path", "dx", tabular=["age", "sex"], group_col="lesion_id")
    train, val, test = grouped_split(table.groups, table.labels, seed=0)
    x, y = table.images(train[:8]), table.labels[train[:8]]       # (8, 3, 64, 64), (8,)
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hybridnets.data.images import read_image

__all__ = ["ImageTable", "TableFormatError", "grouped_split", "load_table", "read_rows"]

_logger = logging.getLogger(__name__)


class TableFormatError(ValueError):
    """A table is malformed; the message names the column or row and the fix."""


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a table as dicts: ``.csv`` (a UTF-8 byte-order mark is skipped),
    ``.jsonl`` / ``.ndjson`` (one JSON object a line) or ``.parquet`` (with pandas + pyarrow).

    The one record reader of the library: image tables, image–text pairs and MedPix records.

    Raises:
        FileNotFoundError: No such file.
        TableFormatError: Another suffix, or a line that is not JSON (named by its number).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"table {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError(
                f"reading {path} needs pandas and pyarrow (pip install pandas pyarrow); or save "
                "the table as CSV"
            ) from err
        frame = pd.read_parquet(path)
        return [
            {k: (None if pd.isna(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")
        ]
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    if suffix != ".csv":
        raise TableFormatError(f"{path}: tables must be .csv, .jsonl or .parquet files")
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8-sig") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise TableFormatError(
                    f"{path} row {n}: not JSON ({err.msg}); fix the line"
                ) from None
    return records


def _check_columns(path: Path, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    available = list(rows[0]) if rows else []
    for column in columns:
        if column not in available:
            raise TableFormatError(
                f"{path} has no column {column!r}; available columns: {', '.join(available)}"
            )


def _label_classes(labels: list[Any]) -> list[str]:
    texts = [str(v).strip() for v in labels]
    try:
        return [str(v) for v in sorted({int(t) for t in texts})]  # integer labels in order
    except ValueError:
        return sorted(set(texts))


@dataclass
class ImageTable:
    """Rows of a table with lazily read (and cached) images.

    Attributes:
        path: The table file; image paths are relative to its folder.
        rows: All rows (column → cell).
        image_col: Column of image paths.
        label_col: Column of labels.
        tabular: Clinical columns for a tabular preprocessor.
        group_col: Column of group ids (patient, lesion), if any.
        classes: Class names; ``labels`` index into them.
        labels: ``(N,)`` long class indices.
        in_chans: Channels images are read with.
        size: Side length images are resized to (None: as stored).
        spatial_dims: 2 or 3 (checked against each file).
        allow_outside: Follow image paths that lead outside the table's folder (absolute
            paths, ``../``); off: such a row is refused.
    """

    path: Path
    rows: list[dict[str, Any]]
    image_col: str
    label_col: str
    tabular: tuple[str, ...]
    group_col: str | None
    classes: list[str]
    labels: Tensor
    in_chans: int = 3
    size: int | None = None
    spatial_dims: int = 2
    cache: bool = True
    allow_outside: bool = False
    _cache: dict[int, Tensor] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def groups(self) -> list[str]:
        """Group id per row (the row number when there is no group column)."""
        if self.group_col is None:
            return [str(i) for i in range(len(self))]
        return [str(r[self.group_col]) for r in self.rows]

    def image_path(self, i: int) -> Path:
        """Row ``i``'s image path, resolved against the table's folder."""
        return self.path.parent / str(self.rows[i][self.image_col]).strip()

    def image(self, i: int) -> Tensor:
        """Row ``i``'s image ``(in_chans, *S)`` in [0, 1]."""
        if i in self._cache:
            return self._cache[i]
        path = self.image_path(i)
        try:
            x = read_image(path, self.in_chans, self.size, self.spatial_dims)
        except (OSError, ValueError) as err:
            raise TableFormatError(
                f"{self.path}, row {i} (line {i + 2}): {err}. Fix the "
                f"{self.image_col!r} cell (paths are relative to {self.path.parent}) or drop the row"
            ) from err
        if self.cache:
            self._cache[i] = x
        return x

    def images(self, index: Sequence[int] | Tensor | np.ndarray) -> Tensor:
        """Images of rows ``index`` stacked: ``(len(index), in_chans, *S)`` (needs ``size``)."""
        return torch.stack([self.image(int(i)) for i in index])

    def tabular_rows(self, index: Sequence[int] | Tensor | np.ndarray | None = None) -> list[dict]:
        """The tabular cells of rows ``index`` (all rows by default), for a preprocessor."""
        chosen = range(len(self)) if index is None else (int(i) for i in index)
        return [{c: self.rows[i][c] for c in self.tabular} for i in chosen]

    def check_images(self) -> None:
        """Raise :class:`TableFormatError` naming the first row whose image file is missing."""
        for i in range(len(self)):
            cell = str(self.rows[i][self.image_col] or "").strip()
            what = image_cell_problem(
                cell, self.image_path(i), self.path.parent, self.allow_outside
            )
            if what is not None:
                raise TableFormatError(
                    f"{self.path}, row {i} (line {i + 2}): the {self.image_col!r} cell {what}; "
                    f"fix it (paths are relative to {self.path.parent}) or drop the row"
                )


def image_cell_problem(cell: str, path: Path, folder: Path, allow_outside: bool) -> str | None:
    """What is wrong with a table's image cell ``cell`` (resolved to ``path``, relative to the
    table's ``folder``), as the end of a sentence ("the 'image' cell ..."), or None."""
    inside = path.resolve().is_relative_to(folder.resolve())
    return (
        "is empty" if not cell
        else f"names {path}, outside the table's folder (set `allow_outside_paths=True` to "
        "follow it)" if not (inside or allow_outside)
        else f"names a folder ({path})" if path.is_dir()
        else f"names {path}, which does not exist" if not path.exists()
        else f"names {path}, which is not a regular file" if not path.is_file()
        else None
    )  # fmt: skip


def load_table(
    path: str | Path,
    image_col: str,
    label_col: str,
    tabular: Sequence[str] = (),
    group_col: str | None = None,
    classes: Sequence[str] | None = None,
    in_chans: int = 3,
    size: int | None = None,
    spatial_dims: int = 2,
    cache: bool = True,
    allow_outside: bool = False,
) -> ImageTable:
    """Read a table, check its columns and image files, and index its labels.

    Args:
        path: A ``.csv`` (or ``.parquet``) file.
        image_col: Column of image paths, relative to the table's folder.
        label_col: Column of labels (strings or integers).
        tabular: Clinical columns to keep for the tabular preprocessor.
        group_col: Column of group ids for :func:`grouped_split` (patient, lesion).
        classes: Class names from a checkpoint (default: sorted labels; integers numerically).
        in_chans: Channels to read images with.
        size: Side length to resize images to.
        spatial_dims: 2 or 3.
        cache: Keep images in memory once read.
        allow_outside: Follow image paths outside the table's folder (absolute, ``../``).

    Raises:
        TableFormatError: A missing column (lists the available ones), an empty label, a label
            not in ``classes`` or a missing image file (names the row and the fix).
    """
    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise TableFormatError(f"{path} has no rows")
    _check_columns(
        path, rows, [image_col, label_col, *tabular, *([group_col] if group_col else [])]
    )
    raw = [str(r[label_col]).strip() if r[label_col] is not None else "" for r in rows]
    for i, label in enumerate(raw):
        if not label:
            raise TableFormatError(
                f"{path}, row {i} (line {i + 2}): empty {label_col!r}; fill it or drop the row"
            )
    names = list(classes) if classes is not None else _label_classes(raw)
    index = {c: k for k, c in enumerate(names)}
    if classes is None and all(t.lstrip("-").isdigit() for t in raw):
        raw = [str(int(t)) for t in raw]  # "01" and "1" are one class
    unknown = sorted({t for t in raw if t not in index})
    if unknown:
        raise TableFormatError(f"{path}: labels {unknown} are not among the classes {names}")
    table = ImageTable(
        path, rows, image_col, label_col, tuple(tabular), group_col, names,
        torch.tensor([index[t] for t in raw]), in_chans, size, spatial_dims, cache,
        allow_outside,
    )  # fmt: skip
    table.check_images()
    _logger.info("%s: %d rows, %d classes", path, len(rows), len(names))
    return table


def _one_fold(groups: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a stratified, grouped share of about ``fraction`` of the rows."""
    from sklearn.model_selection import StratifiedGroupKFold

    folds = max(2, round(1 / fraction))
    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise ValueError(f"{n_groups} groups cannot give a {fraction:.0%} share; need {folds}")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return next(iter(splitter.split(np.zeros(len(labels)), labels, groups)))[1]


def grouped_split(
    groups: Sequence[Any] | None,
    labels: Sequence[int] | Tensor | np.ndarray,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / val / test row indices: no group on two sides, classes stratified where possible.

    Uses scikit-learn's ``StratifiedGroupKFold``: the test share is one fold of
    ``round(1 / test)``, val one fold of the rest, so shares are approximate.

    Args:
        groups: Group id per row (patient, lesion); None: every row its own group.
        labels: Class index per row.
        fractions: Train, val and test shares (val or test may be 0).
        seed: Shuffling seed.

    ``train, val, test = grouped_split(table.groups, table.labels, (0.8, 0.1, 0.1), seed=1)``
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be 3 non-negative shares summing to 1, got {fractions}")
    labels = np.asarray(labels)
    groups_arr = np.arange(len(labels)) if groups is None else np.asarray([str(g) for g in groups])
    if len(groups_arr) != len(labels):
        raise ValueError(f"{len(groups_arr)} groups for {len(labels)} labels")
    rest = np.arange(len(labels))
    _, val_share, test_share = fractions
    test = np.array([], dtype=int)
    if test_share > 0:
        test = _one_fold(groups_arr, labels, test_share, seed)
        rest = np.setdiff1d(rest, test)
    val = np.array([], dtype=int)
    if val_share > 0:
        fold = _one_fold(groups_arr[rest], labels[rest], val_share / (1 - test_share), seed + 1)
        val = rest[fold]
        rest = np.setdiff1d(rest, val)
    _logger.info("grouped split: %d train, %d val, %d test rows", len(rest), len(val), len(test))
    return rest, np.sort(val), np.sort(test)
