"""Pretrain on unlabelled images, then fine-tune on a few labels: the two commands in code.

    python examples/pretrain_finetune.py --data pneumoniamnist.npz --labels 500
    python examples/pretrain_finetune.py --data adrenalmnist3d.npz --labels 300 --epochs 30 10
    python examples/pretrain_finetune.py --data toy.npz --epochs 1 1 --labels 16   # smoke run

Step 1 is ``python -m hybridnets.pretrain`` (masked image modelling on every training image,
labels ignored); step 2 is ``python -m hybridnets.train --pretrained`` with layer-wise LR decay
0.75, the fine-tune recipe measured in benchmarks/results/pretrain_gain.md. The pretrained
folder is an ordinary ``save_pretrained`` folder: ``hybridnets.create("convvit_n",
pretrained=folder, num_classes=K)`` loads it into your own pipeline too.
Data: any MedMNIST-format ``.npz`` (2D or 3D); get MedMNIST files from https://medmnist.com.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from hybridnets.pretrain.config import PretrainConfig
from hybridnets.pretrain.recipe import pretrain
from hybridnets.train import TrainConfig, train


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="MedMNIST-format .npz file")
    p.add_argument("--model", default="convvit_n", help="hybridnets model")
    p.add_argument("--labels", type=int, default=500, help="labelled training images to use")
    p.add_argument(
        "--epochs", type=int, nargs=2, default=(40, 30), help="pretraining and fine-tuning epochs"
    )
    p.add_argument("--out", default="runs/pretrain_finetune", help="output folder")
    p.add_argument("--num-threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)
    out = Path(args.out)
    common = dict(model=args.model, data=args.data, progress=False, num_threads=args.num_threads)
    mim = pretrain(PretrainConfig(**common, epochs=args.epochs[0], out_dir=str(out / "mim")))
    result = train(
        TrainConfig(
            **common,
            epochs=args.epochs[1],
            max_train_samples=args.labels,
            pretrained=mim["pretrained"],
            layer_decay=0.75,
            out_dir=str(out / "finetune"),
        )
    )
    summary = {"pretraining_loss": mim["final_loss"], "test": result["test"]}
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
