"""New data for a trained classifier, read the way its training data was read.

A source is a MedMNIST ``.npz`` (one split), a table (``.csv`` / ``.jsonl`` / ``.parquet``) of
image paths with optional labels and clinical columns, a folder of images or volumes, or one
image or volume file. Files go through :func:`~hybridnets.data.images.read_image` at the
checkpoint's input size and are quantised to uint8 exactly as training tables are, so a
checkpoint's own test split gives its recorded metrics back.

    inputs = read_inputs("scans/", InputSpec(in_chans=1, size=64, spatial_dims=3))
    inputs.ids, inputs.images, inputs.labels        # (N,) names, uint8 (N, C, *S), long or None
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hybridnets.data.arrays import ImageArray
from hybridnets.data.images import is_image_file, read_image, to_uint8
from hybridnets.data.medmnist import MedMNIST
from hybridnets.data.split_table import read_table_images, split_from_column
from hybridnets.data.table import ImageTable, TableFormatError, grouped_split, load_table, read_rows
from hybridnets.data.tabular import TabularPreprocessor

__all__ = ["TABLE_SUFFIXES", "InputSpec", "Inputs", "read_inputs"]

_logger = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")


@dataclass
class InputSpec:
    """How a checkpoint reads its inputs (from its recipe).

    Args:
        in_chans: Channels images are read with.
        size: Side length files are read at (``.npz`` images are resized to it when they differ).
        spatial_dims: 2 or 3.
        classes: Class names; labels in a table are matched against them.
        image_col: Tables: column of image paths.
        label_col: Tables: column of labels (optional in new data).
        split_col: Tables: column of train/val/test per row, if training had one.
        group_col: Tables: the grouping column of training's random split.
        seed: Tables: the seed of training's random split.
        tabular: The fitted clinical preprocessor of a fusion model (None: images alone).
        allow_outside_paths: Tables: follow image paths outside the table's folder.
    """

    in_chans: int
    size: int
    spatial_dims: int
    classes: list[str] = field(default_factory=list)
    image_col: str = "image"
    label_col: str = "label"
    split_col: str | None = None
    group_col: str | None = None
    seed: int = 0
    tabular: TabularPreprocessor | None = None
    allow_outside_paths: bool = False


class Inputs(ImageArray):
    """Samples to predict: ids, uint8 images ``(N, C, *S)``, labels when known, clinical inputs.

    Args:
        name: Where they came from.
        ids: One name per sample (an index, a table row, a file path).
        images: uint8 ``(N, C, *S)``.
        classes: The checkpoint's class names.
        labels: long ``(N,)``, or None when the source has no labels.
        tabular: Preprocessed clinical inputs ``(numeric, missing, categorical)`` or None.
    """

    def __init__(
        self,
        name: str,
        ids: Sequence[str],
        images: Tensor,
        classes: Sequence[str],
        labels: Tensor | None = None,
        tabular: tuple[Tensor, ...] | None = None,
    ) -> None:
        self.name, self.ids, self.images = name, list(ids), images
        self.classes, self.num_classes = list(classes), len(classes)
        self.known_labels = labels
        self.labels = labels if labels is not None else torch.zeros(len(images), dtype=torch.long)
        self.tabular = tabular

    def extra_inputs(self, index: Tensor) -> tuple[Tensor, ...]:
        """The clinical inputs of samples ``index`` (``()`` for images alone)."""
        return () if self.tabular is None else tuple(t[index] for t in self.tabular)


def _split_rows(table: ImageTable, spec: InputSpec, split: str) -> np.ndarray:
    """Rows of ``split`` as training drew them: from the split column, else the same grouped
    random split (group column and seed from the checkpoint)."""
    index = {"train": 0, "val": 1, "test": 2}[split]
    if spec.split_col is not None:
        return split_from_column(table, spec.split_col)[index]
    groups = table.groups if spec.group_col else None
    return grouped_split(groups, table.labels, seed=spec.seed)[index]


def _read_table(path: Path, spec: InputSpec, split: str | None) -> Inputs:
    rows = read_rows(path)
    if not rows:
        raise TableFormatError(f"{path} has no rows")
    tabular = [*spec.tabular.numeric, *spec.tabular.categorical] if spec.tabular else []
    labelled = spec.label_col in rows[0]
    if split is not None and not labelled:
        raise TableFormatError(
            f"{path} has no {spec.label_col!r} column, so its {split} split cannot be found; "
            "leave out split to predict every row"
        )
    label_col = spec.label_col if labelled else spec.image_col  # a stand-in, never used
    group_col = spec.group_col if spec.group_col in rows[0] else None
    table = load_table(path, spec.image_col, label_col, tabular, group_col,
                       classes=spec.classes if labelled else None,
                       in_chans=spec.in_chans, size=spec.size,
                       spatial_dims=spec.spatial_dims, cache=False,
                       allow_outside=spec.allow_outside_paths)  # fmt: skip
    index = _split_rows(table, spec, split) if split else np.arange(len(table))
    batch = spec.tabular.transform(table.tabular_rows(index)) if spec.tabular else None
    return Inputs(
        path.stem,
        [str(i) for i in index],
        read_table_images(table, index),
        spec.classes,
        table.labels[index] if labelled else None,
        tuple(batch) if batch is not None else None,
    )


def _read_files(source: Path, spec: InputSpec) -> Inputs:
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and is_image_file(p))
        if not files:
            raise FileNotFoundError(f"{source} holds no images or volumes to predict")
    else:
        files = [source]
    images = torch.stack(
        [to_uint8(read_image(f, spec.in_chans, spec.size, spec.spatial_dims)) for f in files]
    )
    ids = [str(f.relative_to(source)) if source.is_dir() else f.name for f in files]
    return Inputs(source.name, ids, images, spec.classes)


def read_inputs(source: str | Path, spec: InputSpec, split: str | None = None) -> Inputs:
    """Read ``source`` for a checkpoint described by ``spec``.

    Args:
        source: ``.npz`` file, table, folder of images/volumes, or one image/volume file.
        spec: How the checkpoint reads inputs.
        split: ``.npz``: the split (default ``test``). Tables: ``train``/``val``/``test`` as
            training drew them (default: every row). Not for folders and files.

    Raises:
        FileNotFoundError: ``source`` does not exist or holds no images.
        ValueError: A fusion model gets images without their clinical columns, or a split is
            asked of a folder.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    if split is not None and split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    if source.suffix.lower() == ".npz":
        ds = MedMNIST(source, split or "test")
        ids = [f"{split or 'test'}/{i}" for i in range(len(ds))]
        return Inputs(ds.name, ids, ds.images, spec.classes, ds.labels)
    if source.suffix.lower() in TABLE_SUFFIXES:
        return _read_table(source, spec, split)
    if spec.tabular is not None:
        raise ValueError(
            f"this model fuses clinical columns {[*spec.tabular.numeric, *spec.tabular.categorical]}: "
            f"pass a table with "
            f"an {spec.image_col!r} column and those columns, not {source}"
        )
    if split is not None:
        raise ValueError(f"{source} is not a .npz file or a table; it has no {split} split")
    return _read_files(source, spec)
