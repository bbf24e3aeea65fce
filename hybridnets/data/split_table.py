"""A table of image paths, labels and clinical columns as the supervised recipe's train / val /
test splits: images read once into memory at one size, clinical columns preprocessed with
statistics of the training rows only.

The split comes from a column (``train``/``val``/``test`` per row) or, without one, from
:func:`~hybridnets.data.table.grouped_split` (grouped by ``group_col``, stratified by label).

    train, val, test, pre = table_splits("ham.csv", "image_path", "dx", ["age", "sex"],
                                         group_col="lesion_id", size=64)
    logits = model(train.normalize(train.images[:8]), *train.extra_inputs(torch.arange(8)))
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hybridnets.data.arrays import ImageArray
from hybridnets.data.images import VOLUME_SUFFIXES, read_image, to_uint8
from hybridnets.data.table import ImageTable, TableFormatError, grouped_split, load_table
from hybridnets.data.tabular import TabularBatch, TabularPreprocessor, column_kinds

__all__ = ["SPLIT_NAMES", "TableSplit", "read_table_images", "split_from_column", "table_splits"]

_logger = logging.getLogger(__name__)

SPLIT_NAMES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test",
}  # fmt: skip
"""Cells a split column may hold (case-insensitive) and the split each one means."""


class TableSplit(ImageArray):
    """The rows of one split: uint8 images ``(N, C, *S)``, labels and clinical tokens' inputs.

    Args:
        name: Name of the data (the table's file stem).
        images: uint8 ``(N, C, *S)``.
        labels: long ``(N,)`` indices into ``classes``.
        classes: Class names of the whole table.
        tabular: The rows' preprocessed clinical columns, or None for images alone.
    """

    def __init__(
        self,
        name: str,
        images: Tensor,
        labels: Tensor,
        classes: Sequence[str],
        tabular: TabularBatch | None = None,
    ) -> None:
        self.name = name
        self.images = images
        self.labels = labels
        self.classes = list(classes)
        self.num_classes = len(self.classes)
        self.tabular = tabular

    def extra_inputs(self, index: Tensor) -> tuple[Tensor, ...]:
        """``(numeric, numeric_missing, categorical)`` of samples ``index``, or ``()``."""
        if self.tabular is None:
            return ()
        return tuple(t[index] for t in self.tabular)

    def __repr__(self) -> str:
        return (
            f"TableSplit({self.name!r}, n={len(self)}, in_chans={self.in_chans}, "
            f"spatial_shape={self.spatial_shape}, num_classes={self.num_classes})"
        )


def split_from_column(table: ImageTable, column: str) -> tuple[np.ndarray, ...]:
    sides: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for i, row in enumerate(table.rows):
        cell = str(row[column] or "").strip().lower()
        if cell not in SPLIT_NAMES:
            raise TableFormatError(
                f"{table.path}, row {i} (line {i + 2}): {column!r} is {row[column]!r}; it must "
                "be train, val or test (leave `split_col` unset for a grouped random split)"
            )
        sides[SPLIT_NAMES[cell]].append(i)
    for side in ("train", "val", "test"):
        if not sides[side]:
            raise TableFormatError(f"{table.path}: no row has {column!r} = {side}")
    return tuple(np.asarray(sides[s], dtype=int) for s in ("train", "val", "test"))


def read_table_images(table: ImageTable, index: np.ndarray) -> Tensor:
    """The images of rows ``index`` as uint8 ``(n, C, *S)``, read one at a time."""
    shape = (table.in_chans, *(table.size,) * table.spatial_dims)
    out = torch.empty((len(index), *shape), dtype=torch.uint8)
    for k, i in enumerate(index):
        out[k] = to_uint8(table.image(int(i)))
    return out


def _probe(path: Path, in_chans: int | None) -> tuple[int, int]:
    """``(spatial_dims, in_chans)`` of a table's first image (channels as stored when None)."""
    spatial_dims = 3 if path.name.lower().endswith(VOLUME_SUFFIXES) else 2
    if in_chans is None:
        in_chans = read_image(path, None, None, spatial_dims).shape[0]
    return spatial_dims, in_chans


def table_splits(
    path: str | Path,
    image_col: str,
    label_col: str,
    tabular: Sequence[str] | Mapping[str, str | None] = (),
    group_col: str | None = None,
    split_col: str | None = None,
    size: int = 128,
    in_chans: int | None = None,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    allow_outside_paths: bool = False,
) -> tuple[TableSplit, TableSplit, TableSplit, TabularPreprocessor | None]:
    """Train, val and test :class:`TableSplit` of a table, and the fitted preprocessor.

    Args:
        path: A ``.csv`` or ``.parquet`` table; image paths relative to its folder.
        image_col: Column of image paths (2D images, or volumes with MONAI installed).
        label_col: Column of class labels.
        tabular: Clinical columns, each optionally with its kind (``{"age": None,
            "site": "cat"}``; see :func:`~hybridnets.data.tabular.column_kinds`: numeric when
            declared so or when at least 80 % of the present cells are numbers, categorical
            otherwise; empty cells are missing).
        group_col: Rows sharing a value here (patient, lesion) stay on one side of the split.
        split_col: Column of ``train``/``val``/``test`` per row (None: a grouped, stratified
            random split by ``fractions`` and ``seed``).
        size: Images are resized to this side length (volumes: cube).
        in_chans: Channels to read (None: the first image's own, 1 grey or 3 colour).
        seed: Seed of the random split.
        fractions: Train, val and test shares of the random split.
        allow_outside_paths: Follow image paths outside the table's folder.

    Raises:
        TableFormatError: A missing column, empty label, unreadable image or bad split cell
            (the message names the row and the fix).
    """
    kinds = dict(tabular) if isinstance(tabular, Mapping) else {c: None for c in tabular if c}
    columns = list(kinds)
    table = load_table(path, image_col, label_col, columns, group_col, cache=False, size=None,
                       allow_outside=allow_outside_paths)  # fmt: skip
    if len(table.classes) < 2:
        raise TableFormatError(
            f"{table.path}: every row's {label_col!r} is {table.classes[0]!r}; a classifier "
            "needs at least two classes (check label_col)"
        )
    spatial_dims, chans = _probe(table.image_path(0), in_chans)
    table.in_chans, table.size, table.spatial_dims = chans, size, spatial_dims
    if split_col is not None:
        if split_col not in table.rows[0]:
            raise TableFormatError(
                f"{table.path} has no column {split_col!r}; available: {', '.join(table.rows[0])}"
            )
        index = split_from_column(table, split_col)
    else:
        groups = table.groups if group_col else None
        index = grouped_split(groups, table.labels, fractions, seed)
    missing = sorted(set(range(len(table.classes))) - set(table.labels[index[0]].tolist()))
    if missing:
        raise TableFormatError(
            f"{table.path}: classes {[table.classes[k] for k in missing]} have no training row; "
            "add rows or merge classes"
        )
    pre = None
    if columns:
        numeric, categorical, text_at = column_kinds(table.tabular_rows(), kinds)
        for column, i in text_at.items():
            raise TableFormatError(
                f"{table.path}, row {i} (line {i + 2}): {column!r} is "
                f"{table.rows[i][column]!r}, but the column holds numbers; fix the cell, leave "
                f"it empty (missing), or declare the column categorical ({column}:cat)"
            )
        train_rows = table.tabular_rows(index[0])
        pre = TabularPreprocessor(numeric, categorical).fit(train_rows)
    name = table.path.stem
    splits = []
    for rows in index:
        batch = pre.transform(table.tabular_rows(rows)) if pre is not None else None
        splits.append(
            TableSplit(
                name, read_table_images(table, rows), table.labels[rows], table.classes, batch
            )
        )
    _logger.info(
        "%s: %d train, %d val, %d test rows; %d channel(s) at %d per side; tabular %s",
        name, *(len(s) for s in splits), chans, size, pre.spec if pre else None,
    )  # fmt: skip
    return splits[0], splits[1], splits[2], pre
