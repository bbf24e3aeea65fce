"""Command line: class probabilities of a trained classifier on new data, as a CSV.

python -m hybridnets.predict --checkpoint runs/x/best --data scans/ --out predictions.csv
python -m hybridnets.predict --checkpoint runs/x/best --data pneumoniamnist.npz  # test split
python -m hybridnets.predict --checkpoint runs/fusion/best --data table.csv --split test
python -m hybridnets.predict --checkpoint runs/x/best --data scans/ --tta flip
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hybridnets.checkpoint import load
from hybridnets.engine import cli
from hybridnets.inference import TTA


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hybridnets.predict",
        description="Read new data with a trained classifier's own preprocessing (intensity "
        "rule, input size, channels, standardisation, clinical columns) and write one row per "
        "sample: id, prob_<class> per class, the predicted class (and, for a binary model, the "
        "class at the decision threshold chosen on validation; the label when the data has "
        "one). Prints a JSON summary, with metrics when labels are known.",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        metavar="DIR",
        help="A classifier folder written by python -m hybridnets.train (<out>/best).",
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="PATH",
        help="A MedMNIST .npz file, a table (.csv/.jsonl/.parquet) with the "
        "checkpoint's image column (and clinical columns for a fusion model; its "
        "label column is optional), a folder of images or volumes (read "
        "recursively), or one image or volume file.",
    )
    p.add_argument(
        "--split",
        choices=("train", "val", "test"),
        default=None,
        help=".npz: the split to predict (default: test). Table: the rows of that "
        "split as the training run drew them, from its split column or its grouped "
        "random split (default: every row). Not for folders.",
    )
    p.add_argument(
        "--out",
        default="predictions.csv",
        metavar="CSV",
        help="Where to write the predictions (atomically). (default: predictions.csv)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when available), cpu or cuda[:N]. (default: auto)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=256,
        metavar="N",
        help="Samples per forward pass. (default: 256)",
    )
    p.add_argument(
        "--tta",
        choices=TTA,
        default=None,
        help="Test-time augmentation: none, or flip (the mean of the probabilities of each "
        "image and of its mirror image along the last axis; twice the time). (default: the "
        "training run's own --tta)",
    )
    p.add_argument(
        "--allow-outside-paths",
        action="store_true",
        default=None,
        help="Tables: follow image paths outside the table's folder (absolute, ../). "
        "(default: as the training run did)",
    )
    return p


def _predict(args: argparse.Namespace) -> dict:
    preds = load(args.checkpoint).predict(
        args.data, args.split, args.device, args.batch_size, args.allow_outside_paths, args.tta
    )
    preds.to_csv(args.out)
    summary = {"predictions": args.out, "samples": len(preds.ids), "classes": preds.classes}
    if preds.labels is not None:
        summary["metrics"] = preds.metrics()
    return summary


def main(argv: Sequence[str] | None = None) -> dict:
    """Predict and print the summary as JSON (a user error: one line, exit status 2)."""
    return cli.run_cli(_predict, lambda: build_parser().parse_args(argv), ())


if __name__ == "__main__":
    main()
