"""Image–caption pairs: MedPix 2.0's layout or a CSV / JSONL table; 2D images or 3D volumes.

- MedPix 2.0 (Siragusa et al., Data Science and Engineering 2025): ``splits/descriptions_
  {train,dev,test}.jsonl`` (the dataset's case-disjoint split) and ``images/<image>.png``;
  text ``Description.Caption``, labels ``region`` (``Location Category``, 5 body regions) and
  ``modality`` (``Type``, CT or MR); with ``Case_topic.json`` beside ``splits/``, each image's
  extra text is its case report's title and findings.
- A table (``.csv``, ``.jsonl``): columns ``image`` (a path relative to the table's folder),
  ``text``, and optionally ``label``, ``split`` (``train``, ``val``/``dev``, ``test``) and
  ``extra_text`` (a second description of the image, e.g. from its report).

Files are read by :func:`hybridnets.data.images.read_image` (PNG/JPEG as grey-scale for
``in_chans=1`` or RGB for 3, NIfTI/DICOM volumes) or, for ``.npy`` volumes ``(D, H, W)`` /
``(C, D, H, W)``, as stored; 2D images are padded to a square with black (aspect kept), then
everything is resized to ``size`` per side and loaded once into memory as float32. Problems
name the file, the row and the fix.

    train = load_pairs("/data/medpix2", "train", size=128)      # or "pairs.csv"
    train.set_normalization(*train.channel_stats())
    x = train.batch(torch.arange(8))                            # (8, 1, 128, 128), standardised
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hybridnets.data.images import read_image
from hybridnets.data.in_memory import InMemoryImages
from hybridnets.data.table import TableFormatError, image_cell_problem, read_rows

__all__ = [
    "MEDPIX_MODALITIES",
    "MEDPIX_REGIONS",
    "ImageTextPairs",
    "PairsFormatError",
    "has_split",
    "is_pairs_source",
    "load_pairs",
    "read_medpix",
    "read_table",
]

_logger = logging.getLogger(__name__)

MEDPIX_REGIONS = (
    "Head",
    "Spine and Muscles",
    "Thorax",
    "Abdomen",
    "Reproductive and Urinary System",
)
MEDPIX_MODALITIES = ("CT", "MR")
_SPLIT_NAMES = {
    "train": ("train",),
    "val": ("val", "dev"),
    "dev": ("val", "dev"),
    "test": ("test",),
}


class PairsFormatError(TableFormatError):
    """An image–caption source is malformed; the message names the row and the fix."""


@dataclass
class ImageTextPairs(InMemoryImages):
    """Images with one caption each, and optional labels per task; statistics, standardisation
    and batches as :class:`~hybridnets.data.in_memory.InMemoryImages` gives them.

    Attributes:
        images: ``(N, C, *S)`` float32 (8-bit images in [0, 1]).
        texts: One caption per image.
        labels: Per task (``"region"``, ``"label"``, ...), one class name per image (None:
            unknown).
        classes: Per task, the class names in a fixed order (empty: take them from the data).
        name: The source (folder or file name).
        split: The split these pairs come from.
        extra_texts: Per image, a second text that describes it (e.g. its case report; ""
            where there is none); empty: no extra texts. Training can pair an image with it
            instead of its caption; evaluation uses the captions.
    """

    images: Tensor
    texts: list[str]
    labels: dict[str, list[str | None]] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)
    name: str = ""
    split: str = ""
    extra_texts: list[str] = field(default_factory=list)

    def label_index(self, task: str, classes: Sequence[str]) -> Tensor:
        """``(N,)`` index of each image's class of ``task`` in ``classes`` (-1: unknown)."""
        where = {c: i for i, c in enumerate(classes)}
        return torch.tensor([where.get(v, -1) if v is not None else -1 for v in self.labels[task]])

    def subset(self, index: Tensor) -> ImageTextPairs:
        """The pairs at ``index`` (labels, classes and standardisation kept)."""
        keep = index.tolist()
        return ImageTextPairs(
            self.images[index],
            [self.texts[i] for i in keep],
            {k: [v[i] for i in keep] for k, v in self.labels.items()},
            dict(self.classes),
            self.name,
            self.split,
            [self.extra_texts[i] for i in keep] if self.extra_texts else [],
        ).set_normalization(self.mean, self.std)


def _stack(
    rows: list[dict[str, Any]],
    source: Path,
    folder: Path,
    in_chans: int,
    size: int | None,
    allow_outside: bool = True,
) -> Tensor:
    """The images of ``rows`` (paths relative to ``folder``) as one ``(N, C, *S)`` tensor;
    a path outside ``folder`` is refused unless ``allow_outside``."""
    images = []
    for row in rows:
        path = folder / row["image"]
        problem = image_cell_problem(row["image"].strip(), path, folder, allow_outside)
        if problem is not None:
            raise PairsFormatError(
                f"{source} row {row['_row']}: the image cell {problem}; fix it (paths are "
                f"relative to {folder}) or remove the row"
            )
        try:
            images.append(read_image(path, in_chans, size, square=True, antialias=True))
        except (OSError, ValueError) as err:
            raise PairsFormatError(
                f"{source} row {row['_row']}: cannot read image {path} ({err}); fix the path "
                f"(relative to {folder}) or the file, or remove the row"
            ) from err
        if images[-1].shape != images[0].shape:
            raise PairsFormatError(
                f"{source} row {row['_row']}: image {path} has shape {tuple(images[-1].shape)}, "
                f"the first image {tuple(images[0].shape)}; pass size= (`input_size`) to resize "
                "all to one size, and keep 2D images and 3D volumes in separate files"
            )
    if not images:
        raise PairsFormatError(f"{source}: no pairs in this split")
    return torch.stack(images)


def _clean(text: Any) -> str:
    return " ".join(str(text).split())


def read_medpix(
    root: str | Path, split: str, in_chans: int = 1, size: int | None = 128
) -> ImageTextPairs:
    """MedPix 2.0 pairs of ``split`` (``train``, ``dev``/``val`` or ``test``) under ``root``.

    Raises:
        PairsFormatError: a missing split file, field or image (naming it and the fix).
    """
    root = Path(root)
    names = _SPLIT_NAMES.get(split)
    if names is None:
        raise PairsFormatError(f"MedPix split must be train, dev (val) or test, got {split!r}")
    source = root / "splits" / f"descriptions_{'dev' if 'dev' in names else split}.jsonl"
    if not source.is_file():
        raise PairsFormatError(
            f"{source} not found: {root} is not a MedPix 2.0 folder (splits/descriptions_"
            "{train,dev,test}.jsonl and images/); point to the folder holding splits/"
        )
    reports = _case_reports(root / "Case_topic.json")
    rows = []
    for n, record in enumerate(read_rows(source), 1):
        caption = (record.get("Description") or {}).get("Caption")
        missing = [k for k, v in (("image", record.get("image")), ("Caption", caption)) if not v]
        if missing:
            raise PairsFormatError(
                f"{source} row {n}: no {' or '.join(missing)} (MedPix records need 'image' and "
                "'Description.Caption'); fix or remove the row"
            )
        rows.append(
            {
                "_row": n,
                "image": f"{record['image']}.png",
                "text": _clean(caption),
                "region": record.get("Location Category"),
                "modality": record.get("Type"),
                "extra_text": reports.get(record.get("U_id"), ""),
            }
        )
    images = _stack(rows, source, root / "images", in_chans, size)
    return ImageTextPairs(
        images,
        [r["text"] for r in rows],
        {task: [r[task] for r in rows] for task in ("region", "modality")},
        {"region": list(MEDPIX_REGIONS), "modality": list(MEDPIX_MODALITIES)},
        root.name,
        split,
        [r["extra_text"] for r in rows] if reports else [],
    )


def _case_reports(path: Path) -> dict[str, str]:
    """``{case id: "<title>. <findings>"}`` from MedPix 2.0's ``Case_topic.json`` (empty when
    the file is absent). Of the report's fields these name the body part and the lesion most
    often: the region prompts classify the dev split's title + findings at 0.78, its captions
    at 0.68 (all-MiniLM-L6-v2)."""
    if not path.is_file():
        return {}
    try:
        cases = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise PairsFormatError(f"{path}: not JSON ({err.msg}); restore the file") from err
    reports = {}
    for case in cases:
        report = case.get("Case") or {}
        parts = [report.get(k) for k in ("Title", "Findings")]
        parts = [_clean(p) for p in parts if p and _clean(p) not in ("N/A", "")]
        if case.get("U_id") and parts:
            reports[case["U_id"]] = ". ".join(p.rstrip(".") for p in parts) + "."
    return reports


def read_table(
    path: str | Path,
    split: str | None = None,
    in_chans: int = 1,
    size: int | None = 128,
    image_col: str = "image",
    text_col: str = "text",
    label_col: str = "label",
    extra_text_col: str = "extra_text",
    allow_outside_paths: bool = False,
) -> ImageTextPairs:
    """Pairs from a CSV or JSONL table; image paths are relative to the table's folder.

    Args:
        path: The ``.csv`` or ``.jsonl`` file.
        split: Keep the rows of this split (``split`` column; ``val`` and ``dev`` are one);
            None keeps every row.
        in_chans: Image channels (1: grey-scale, 3: RGB).
        size: Resize every image to this side length (None: keep; all must match).
        image_col: Column with the image path.
        text_col: Column with the caption.
        label_col: Optional column with a class name per row (zero-shot task ``"label"``).
        extra_text_col: Optional column with a second text per row (see
            :attr:`ImageTextPairs.extra_texts`; empty cells: none).
        allow_outside_paths: Follow image paths that lead outside the table's folder
            (absolute, ``../``); off: such a row is refused.

    Raises:
        PairsFormatError: a missing column, empty caption or unreadable image (with the row
            and the fix).
    """
    path = Path(path)
    if not path.is_file():
        raise PairsFormatError(f"pairs table {path} not found")
    records = read_rows(path)
    if not records:
        raise PairsFormatError(f"{path} has no rows")
    columns = list(records[0])
    if split is not None and "split" not in columns:
        raise PairsFormatError(
            f"{path} has no 'split' column (columns: {columns}); add one (train/val/test) or "
            "give the test pairs as a separate file (test_data)"
        )
    keep = _SPLIT_NAMES.get(split, (split,)) if split is not None else None
    rows = []
    for n, record in enumerate(records, 1):
        for column in (image_col, text_col):
            if record.get(column) in (None, ""):
                hint = "rename it or set image_col / text_col"
                raise PairsFormatError(
                    f"{path} row {n}: no '{column}' value (columns: {list(record)}); fill it, "
                    f"remove the row, or name the right column ({hint})"
                )
        if keep is not None and str(record.get("split", "")).strip().lower() not in keep:
            continue
        label = record.get(label_col)
        rows.append(
            {
                "_row": n,
                "image": str(record[image_col]),
                "text": _clean(record[text_col]),
                "label": None if label in (None, "") else str(label),
                "extra_text": _clean(record.get(extra_text_col) or ""),
            }
        )
    images = _stack(rows, path, path.parent, in_chans, size, allow_outside_paths)
    has_labels = any(r["label"] is not None for r in rows)
    labels = {"label": [r["label"] for r in rows]} if has_labels else {}
    extra = [r["extra_text"] for r in rows]
    texts = [r["text"] for r in rows]
    return ImageTextPairs(
        images, texts, labels, {}, path.name, split or "", extra if any(extra) else []
    )


def load_pairs(
    source: str | Path, split: str | None, in_chans: int = 1, size: int | None = 128, **kwargs: Any
) -> ImageTextPairs:
    """MedPix 2.0 when ``source`` is a folder, else a CSV/JSONL table (``kwargs``: columns)."""
    source = Path(source)
    if source.is_dir():
        return read_medpix(source, split or "train", in_chans, size)
    return read_table(source, split, in_chans, size, **kwargs)


def is_pairs_source(source: str | Path) -> bool:
    """Whether ``source`` is an image–text source: a MedPix 2.0 folder or a CSV/JSONL table."""
    source = Path(source)
    if source.is_dir():
        return (source / "splits" / "descriptions_train.jsonl").is_file()
    return source.suffix.lower() in (".csv", ".jsonl")


def has_split(source: str | Path, split: str) -> bool:
    """Whether ``source`` (MedPix folder or table with a ``split`` column) has rows of ``split``."""
    source = Path(source)
    names = _SPLIT_NAMES.get(split, (split,))
    if source.is_dir():
        return (
            source / "splits" / f"descriptions_{'dev' if 'dev' in names else split}.jsonl"
        ).is_file()
    try:
        rows = read_rows(source)
    except TableFormatError:
        return False
    return any(str(r.get("split", "")).strip().lower() in names for r in rows)
