"""Command line for the training recipe; every option is a :class:`TrainConfig` field.

    python -m hybridnets.train --model convvit_n --data pneumoniamnist.npz --epochs 30 --seed 0
    python -m hybridnets.train --model monai_resnet18 --data adrenalmnist3d.npz --out runs/r18
    python -m hybridnets.train --model vit_tiny_patch16_224 --data pneumoniamnist.npz \\
        --model-kwargs '{"img_size": 28, "patch_size": 4}'
    torchrun --nproc_per_node 8 -m hybridnets.train --model convvit_s --data ct.npz  # 8 GPUs
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import MISSING, fields

from hybridnets.train.config import CLASS_BALANCE, SELECT, TrainConfig
from hybridnets.train.recipe import train

_CHOICES = {"class_balance": CLASS_BALANCE, "select": SELECT}
_FLAGS = {"out_dir": "--out"}
_METAVARS = {"int": "N", "float": "X", "dict[str, Any]": "JSON", "str": "TEXT"}


def field_help() -> dict[str, str]:
    """``{field: description}`` from the ``Args:`` section of :class:`TrainConfig`'s docstring."""
    args = TrainConfig.__doc__.split("Args:", 1)[1]
    return {
        m.group(1): " ".join(m.group(2).split())
        for m in re.finditer(r"^\s{8}(\w+): (.*?)(?=^\s{8}\w+: |\Z)", args, re.M | re.S)
    }


def _optional(kind: type):
    def parse(text: str):
        return None if text.lower() in ("none", "off") else kind(text)

    parse.__name__ = kind.__name__
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The parser: one option per :class:`TrainConfig` field, help and default from its docs."""
    helps = field_help()
    p = argparse.ArgumentParser(
        prog="python -m hybridnets.train",
        description="Train any hybridnets, timm or monai_<resnet> model on a MedMNIST-format .npz "
        "file with one recipe (hybridnets.train.TrainConfig); prints the result as JSON.",
        epilog="Booleans that default to on have a --no-... switch; 'none' turns optional numbers off.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=36),
    )
    for f in fields(TrainConfig):
        flag = _FLAGS.get(f.name, "--" + f.name.replace("_", "-"))
        help_text = helps[f.name]
        if f.default is MISSING and f.default_factory is MISSING:
            p.add_argument(flag, dest=f.name, required=True, metavar="TEXT", help=help_text)
            continue
        default = f.default if f.default is not MISSING else f.default_factory()
        if f.type in ("bool", bool):
            if default:
                flag = "--no-" + flag.removeprefix("--")
            p.add_argument(
                flag,
                dest=f.name,
                action="store_false" if default else "store_true",
                help=f"{'Turn off: ' if default else ''}{help_text} (default: {'on' if default else 'off'})",
            )
            continue
        kind = {"int": int, "float": float, "dict[str, Any]": json.loads}.get(
            str(f.type).replace(" | None", ""), str
        )
        if "None" in str(f.type):
            kind = _optional(kind)
        p.add_argument(
            flag,
            dest=f.name,
            type=kind,
            metavar=None
            if f.name in _CHOICES
            else _METAVARS.get(str(f.type).replace(" | None", ""), "TEXT"),
            default=default,
            choices=_CHOICES.get(f.name),
            help=f"{help_text} (default: {json.dumps(default) if isinstance(default, dict) else default})",
        )
    return p


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse command-line arguments into a :class:`TrainConfig`."""
    args = vars(build_parser().parse_args(argv))
    return TrainConfig(**{f.name: args[f.name] for f in fields(TrainConfig)})


def main(argv: Sequence[str] | None = None) -> None:
    """Train and print the result summary as JSON."""
    main_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 reports
    logging.basicConfig(
        level=logging.INFO if main_rank else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    result = train(parse_args(argv))
    if main_rank:
        summary = {k: v for k, v in result.items() if k not in ("history", "config")}
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
