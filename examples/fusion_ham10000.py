"""Dermoscopy image + clinical record: feed a table to the train recipe, image-only vs fused.

    python examples/fusion_ham10000.py                       # $HAM10000_DIR or ../shared/data
    python examples/fusion_ham10000.py --size 64 --epochs 10 --max-train-samples 2000

Your data is a table, one row per image: an image path (relative to the table's folder), a
label, clinical columns (numbers or categories; empty cells are missing) and a patient or lesion
id so that one patient never sits on two sides of the split. This example writes such a table
for HAM10000 (:func:`hybridnets.data.ham10000.write_ham10000_table`: the dataset ships image
ids, not paths; ``dx_type`` is left out because it leaks the label), then trains twice with one recipe:

    python -m hybridnets.train --model convvit_n --data ham10000.csv --image-col image_path \\
        --label-col dx --group-col lesion_id --input-size 64 --class-balance loss
    ... the same + --tabular age,sex,localization --fusion cross

(the fused run keeps the clinical columns only where they help on validation: ``table_used``
in its result), and finally predicts one case from the fused checkpoint: the clinical preprocessing (training
means, category lists) is stored in its checkpoint.json. Measured comparison of all fusions:
benchmarks/results/fusion_ham10000.md. HAM10000 (CC BY-NC 4.0, research use): doi:10.7910/DVN/DBW86T.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from hybridnets.atomic import atomic_write_text
from hybridnets.checkpoint import load_trained
from hybridnets.data.ham10000 import HAM10000_CLINICAL, write_ham10000_table
from hybridnets.data.images import read_image
from hybridnets.data.tabular import TabularPreprocessor
from hybridnets.train import TrainConfig, train

CLINICAL = HAM10000_CLINICAL


def default_data() -> Path:
    """``$HAM10000_DIR``, else ``../shared/data/ham10000`` beside the repository."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "ham10000"
    return Path(os.environ.get("HAM10000_DIR", default))


def predict_case(checkpoint: str, image: Path, record: dict[str, str]) -> dict[str, float]:
    """Class probabilities of one image and its clinical record from a fused checkpoint."""
    model, recipe = load_trained(checkpoint)
    pre = TabularPreprocessor.from_dict(recipe["tabular"])
    x = read_image(image, recipe["in_chans"], recipe["input_size"], recipe["spatial_dims"])
    mean = torch.tensor(recipe["mean"]).view(-1, 1, 1)
    std = torch.tensor(recipe["std"]).view(-1, 1, 1)
    with torch.no_grad():
        probs = model(((x - mean) / std)[None], *pre.transform([record])).softmax(-1)[0]
    return {c: round(float(p), 3) for c, p in zip(recipe["classes"], probs)}


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=default_data(), help="HAM10000 folder")
    p.add_argument("--model", default="convvit_n", help="image backbone (default: convvit_n)")
    p.add_argument("--size", type=int, default=64, help="image side length (default: 64)")
    p.add_argument("--epochs", type=int, default=10, help="epochs per run (default: 10)")
    p.add_argument(
        "--max-train-samples", type=int, default=2000, help="training rows (default: 2000)"
    )
    p.add_argument("--out", type=Path, default=Path("runs/fusion_ham10000_example"))
    p.add_argument("--num-threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)
    if not (args.data / "HAM10000_metadata_ext.csv").is_file():
        sys.stderr.write(f"no HAM10000 at {args.data}: pass --data or set HAM10000_DIR\n")
        return {}
    args.out.mkdir(parents=True, exist_ok=True)
    table = write_ham10000_table(args.data, args.out / "ham10000.csv")
    common = dict(
        model=args.model, data=str(table), image_col="image_path", label_col="dx",
        group_col="lesion_id", input_size=args.size, epochs=args.epochs, class_balance="loss",
        allow_outside_paths=True,  # the table lists the dataset's images where they are
        max_train_samples=args.max_train_samples, progress=False, num_threads=args.num_threads,
    )  # fmt: skip
    image_only = train(TrainConfig(**common, out_dir=str(args.out / "image")))
    fused = train(
        TrainConfig(
            **common, tabular=",".join(CLINICAL), fusion="cross", out_dir=str(args.out / "cross")
        )
    )
    with open(table, newline="") as f:
        case = next(csv.DictReader(f))
    summary = {
        "image_only": image_only["test"],
        "fused": fused["test"],
        "table_used": fused["table_used"],  # False: validation preferred the image path
        "one_case": predict_case(
            fused["checkpoint"], Path(case["image_path"]), {c: case[c] for c in CLINICAL}
        ),
    }
    atomic_write_text(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
