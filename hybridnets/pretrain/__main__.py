"""Command line for self-supervised pretraining; every option is a :class:`PretrainConfig` field.

    python -m hybridnets.pretrain --model convvit_n --data pneumoniamnist.npz --out runs/mim
    python -m hybridnets.pretrain --model convvit_n --data pneumoniamnist.npz \\
        --objective contrastive --out runs/simclr
    python -m hybridnets.pretrain --model convvit_n --data ct_volumes/,adrenalmnist3d.npz \\
        --input-size 28 --epochs 40
    python -m hybridnets.train --model convvit_n --data pneumoniamnist.npz --pretrained runs/mim
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hybridnets.engine import cli
from hybridnets.pretrain.config import PretrainConfig
from hybridnets.pretrain.recipe import pretrain


def build_parser() -> argparse.ArgumentParser:
    """One option per :class:`PretrainConfig` field, help and default from its docstring."""
    return cli.config_parser(
        PretrainConfig,
        "python -m hybridnets.pretrain",
        "Pretrain a hybridnets backbone on unlabelled images or volumes by masked image "
        "modelling or contrastive views; writes a folder that hybridnets.create(pretrained=...) and "
        "python -m hybridnets.train --pretrained load. Prints the result as JSON.",
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Pretrain and print the result summary as JSON."""
    parse = lambda: cli.parse_config(PretrainConfig, build_parser(), argv)  # noqa: E731
    cli.run_cli(pretrain, parse, ("history", "recipe"), PretrainConfig)


if __name__ == "__main__":
    main()
