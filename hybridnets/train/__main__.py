"""Command line for the training recipe; every option is a :class:`TrainConfig` field.

    python -m hybridnets.train --model convvit_n --data pneumoniamnist.npz --epochs 30 --seed 0
    python -m hybridnets.train --model convvit_n --data table.csv --image-col image_path \\
        --label-col dx --tabular age,sex,localization --group-col lesion_id --fusion cross
    python -m hybridnets.train --model monai_resnet18 --data adrenalmnist3d.npz --out runs/r18
    python -m hybridnets.train --model vit_tiny_patch16_224 --data pneumoniamnist.npz \\
        --model-kwargs '{"img_size": 28, "patch_size": 4}'
    torchrun --nproc_per_node 8 -m hybridnets.train --model convvit_s --data ct.npz  # 8 GPUs
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hybridnets.engine import cli
from hybridnets.train.config import TrainConfig
from hybridnets.train.recipe import train


def field_help() -> dict[str, str]:
    """``{field: description}`` from the ``Args:`` section of :class:`TrainConfig`'s docstring."""
    return cli.field_help(TrainConfig)


def build_parser() -> argparse.ArgumentParser:
    """The parser: one option per :class:`TrainConfig` field, help and default from its docs."""
    return cli.config_parser(
        TrainConfig,
        "python -m hybridnets.train",
        "Train any hybridnets, timm or monai_<resnet> model on a MedMNIST-format .npz file, or "
        "on a CSV/Parquet table of image paths and labels, optionally fusing clinical columns "
        "(--tabular) into the model, with one recipe (hybridnets.train.TrainConfig); prints the "
        "result as JSON.",
    )


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse command-line arguments into a :class:`TrainConfig`."""
    return cli.parse_config(TrainConfig, build_parser(), argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Train and print the result summary as JSON."""
    cli.run_cli(train, lambda: parse_args(argv), config_cls=TrainConfig)


if __name__ == "__main__":
    main()
