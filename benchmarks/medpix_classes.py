"""MedPix 2.0 as MedMNIST-format classification files: body region (5 classes) or modality
(CT / MR), grey-scale, letterboxed to a square side, on the dataset's own case-disjoint split
(``descriptions_{train,dev,test}.jsonl``; dev is the validation split).

The small-data benchmark builds these once under its run folder (never inside the repository:
MedPix is research-only); ``python benchmarks/medpix_classes.py region out.npz --size 64``
writes one by hand.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

# target -> how a description record names its class
TARGETS = {
    "region": lambda record: record["Location Category"],
    "modality": lambda record: record["Type"],
}
SPLITS = {"train": "train", "val": "dev", "test": "test"}


def _records(folder: Path, split: str) -> list[dict]:
    path = folder / "splits" / f"descriptions_{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: point MEDPIX2_DIR at the MedPix 2.0 folder")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def medpix_npz(folder: Path, dst: Path, target: str, size: int = 64) -> Path:
    """``dst``: the MedPix 2.0 images in ``folder`` as a MedMNIST-format ``.npz`` (uint8
    ``{split}_images`` of ``size``², ``{split}_labels`` of shape (N, 1)) labelled by ``target``
    (:data:`TARGETS`; classes numbered in sorted order, the names kept in ``classes``). Written
    atomically; an existing ``dst`` is reused."""
    import numpy as np
    from _common import write_npz
    from PIL import Image, ImageOps

    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {sorted(TARGETS)}")
    if dst.is_file():
        return dst
    records = {split: _records(folder, name) for split, name in SPLITS.items()}
    classes = sorted({TARGETS[target](r) for rs in records.values() for r in rs})
    out: dict[str, np.ndarray] = {"classes": np.array(classes)}
    for split, rows in records.items():
        images = []
        for r in rows:
            with Image.open(folder / "images" / f"{r['image']}.png") as image:
                images.append(np.asarray(ImageOps.pad(image.convert("L"), (size, size))))
        out[f"{split}_images"] = np.stack(images)
        labels = [classes.index(TARGETS[target](r)) for r in rows]
        out[f"{split}_labels"] = np.array(labels, dtype=np.int64)[:, None]
    return write_npz(dst, out)


def main(argv: Sequence[str] | None = None) -> None:
    from _common import medpix_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=sorted(TARGETS), help="what the classes are")
    parser.add_argument("out", type=Path, help="the .npz to write")
    parser.add_argument("--size", type=int, default=64, help="image side length (64)")
    args = parser.parse_args(argv)
    print(medpix_npz(medpix_dir(), args.out, args.target, args.size))


if __name__ == "__main__":
    main()
