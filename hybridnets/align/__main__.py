"""Command line for the alignment recipe; every option is an :class:`AlignConfig` field.

python -m hybridnets.align --model convvit_n --data /data/medpix2 --input-size 64
python -m hybridnets.align --model resnet18 --data pairs.csv --text-model path/to/BiomedBERT
python -m hybridnets.align --model convvit_n --data pairs.csv --text-lora-rank 8   # LoRA
torchrun --nproc_per_node 4 -m hybridnets.align --model convvit_t --data /data/medpix2
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hybridnets.align.config import AlignConfig
from hybridnets.align.recipe import align
from hybridnets.engine import cli


def build_parser() -> argparse.ArgumentParser:
    """One option per :class:`AlignConfig` field, help and default from its docstring."""
    return cli.config_parser(
        AlignConfig,
        "python -m hybridnets.align",
        "Align any hybridnets, timm or monai_<resnet> image tower with a Hugging Face text "
        "tower on image-caption pairs (MedPix 2.0 folder or CSV/JSONL table) by contrastive "
        "training: LiT (frozen text) by default, CLIP or LoRA on request. Saves the image "
        "tower as a backbone and prints retrieval and zero-shot scores as JSON.",
    )


def parse_args(argv: Sequence[str] | None = None) -> AlignConfig:
    """Parse command-line arguments into an :class:`AlignConfig`."""
    return cli.parse_config(AlignConfig, build_parser(), argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Align and print the result summary as JSON."""
    cli.run_cli(align, lambda: parse_args(argv), config_cls=AlignConfig)


if __name__ == "__main__":
    main()
