"""The one JSON every checkpoint folder holds: ``checkpoint.json``.

It records the kind (``classifier``, ``fusion``, ``aligned``, ``backbone``), the architecture
and its arguments, the preprocessing (``intensity``, ``mean``, ``std``, ``input_size``,
``in_chans``), class names and threshold, and the tabular or text parts. Weights beside it are
``model.safetensors`` (a hybridnets backbone also keeps ``config.json``, which
``hybridnets.create(pretrained=folder)`` reads; LoRA adapters keep peft's own files).

Folders written before this format (``recipe.json``, ``align.json``, ``pretrain.json``) are read
as they are.

    write_record(folder, "classifier", recipe)
    kind, record = read_record(folder)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hybridnets.atomic import atomic_write_text

__all__ = [
    "CHECKPOINT_FILE",
    "FORMAT_VERSION",
    "LEGACY_FILES",
    "model_kind",
    "read_record",
    "write_record",
]

CHECKPOINT_FILE = "checkpoint.json"
FORMAT_VERSION = 1
LEGACY_FILES = {"recipe.json": "classifier", "align.json": "aligned", "pretrain.json": "backbone"}
"""Files of folders written before ``checkpoint.json``, and the kind each one means."""


def write_record(folder: str | Path, kind: str, record: dict[str, Any]) -> Path:
    """Write ``folder/checkpoint.json``: ``{"format": 1, "kind": kind, **record}``."""
    payload = {"format": FORMAT_VERSION, "kind": kind} | {
        k: v for k, v in record.items() if k not in ("format", "kind")
    }
    return atomic_write_text(Path(folder) / CHECKPOINT_FILE, json.dumps(payload, indent=2) + "\n")


def model_kind(recipe: dict[str, Any]) -> str:
    """The kind of a trained model's recipe: its ``kind``, else ``fusion`` when it fuses
    clinical columns, ``classifier`` with classes, ``backbone`` without (align's
    ``image_tower/``)."""
    if recipe.get("kind"):
        return recipe["kind"]
    if "fusion" in recipe:
        return "fusion"
    return "classifier" if recipe.get("num_classes") else "backbone"


def _legacy_kind(name: str, record: dict[str, Any]) -> str:
    return model_kind(record) if name == "recipe.json" else LEGACY_FILES[name]


def read_record(folder: str | Path) -> tuple[str, dict[str, Any]] | None:
    """``(kind, record)`` of a checkpoint folder, from ``checkpoint.json`` or an older file;
    None when it holds none.

    Raises:
        ValueError: ``checkpoint.json`` is of a newer format than this version reads.
    """
    folder = Path(folder)
    path = folder / CHECKPOINT_FILE
    if path.is_file():
        record = json.loads(path.read_text())
        if record.get("format", 1) > FORMAT_VERSION:
            raise ValueError(
                f"{path} is format {record['format']}; this hybridnets reads up to "
                f"{FORMAT_VERSION}: upgrade hybridnets"
            )
        return record["kind"], record
    for name in LEGACY_FILES:
        if (folder / name).is_file():
            record = json.loads((folder / name).read_text())
            return _legacy_kind(name, record), record
    return None
