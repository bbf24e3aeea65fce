"""Command line for the training recipe.

    python -m hybridnets.train --model convvit_n --data pneumoniamnist.npz --epochs 30 --seed 0
    python -m hybridnets.train --model monai_resnet18 --data adrenalmnist3d.npz --out runs/r18
    python -m hybridnets.train --model vit_tiny_patch16_224 --data pneumoniamnist.npz \
        --model-kwargs '{"img_size": 28, "patch_size": 4}'
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import fields

from hybridnets.train.recipe import TrainConfig, train


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse command-line arguments into a :class:`TrainConfig`."""
    defaults = TrainConfig(model="", data="")
    p = argparse.ArgumentParser(
        prog="python -m hybridnets.train", description=__doc__.split("\n")[0]
    )
    p.add_argument("--model", required=True, help="hybridnets, monai_<resnet> or timm model name")
    p.add_argument("--data", required=True, help="MedMNIST .npz file")
    p.add_argument("--out", dest="out_dir", default=defaults.out_dir, help="output folder")
    for name in (
        "epochs",
        "batch_size",
        "seed",
        "patience",
        "resize",
        "max_train_samples",
        "num_threads",
    ):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in (
        "lr",
        "weight_decay",
        "warmup_epochs",
        "min_lr_ratio",
        "label_smoothing",
        "drop_path_rate",
        "ema_decay",
    ):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    p.add_argument("--no-normalize", dest="normalize", action="store_false")
    p.add_argument("--no-augment", dest="augment", action="store_false")
    p.add_argument("--no-amp", dest="amp", action="store_false")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--device", default=defaults.device)
    p.add_argument(
        "--model-kwargs", type=json.loads, default={}, help="JSON, e.g. '{\"stem_stride\": 1}'"
    )
    args = vars(p.parse_args(argv))
    return TrainConfig(**{f.name: args[f.name] for f in fields(TrainConfig)})


def main(argv: Sequence[str] | None = None) -> None:
    """Train and print the result summary as JSON."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    result = train(parse_args(argv))
    summary = {k: v for k, v in result.items() if k not in ("history", "config")}
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
