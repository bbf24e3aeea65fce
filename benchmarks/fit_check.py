"""Can a model fit a small training subset quickly? A one-minute diagnostic for optimisation trouble.

Trains on the first ``--samples`` training images for ``--steps`` AdamW steps (no augmentation,
no schedule, inputs standardised) and reports the AUC on those same images. A model that
optimises well gets close to 1; one that stays near the class prior is stuck, whatever its
capacity. It is how the LayerNorm head of ``convvit_n`` was found to stall on AdrenalMNIST3D
(benchmarks/results/medmnist.md).

python benchmarks/fit_check.py --model convvit_n --data ../shared/data/adrenalmnist3d.npz
python benchmarks/fit_check.py --model convvit_n --model-kwargs '{"head_norm": "layer"}' \
    --data ../shared/data/adrenalmnist3d.npz
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from hybridnets.data import MedMNIST
from hybridnets.engine import param_groups
from hybridnets.resolve import create_model


def fit_check(
    model_name: str,
    data: str,
    samples: int = 256,
    steps: int = 48,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    model_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train on a fixed subset and return the final loss and the AUC on that subset."""
    ds = MedMNIST(data, "train")
    ds.set_normalization(*ds.channel_stats())
    n = min(samples, len(ds))
    x = torch.stack([ds[i][0] for i in range(n)])  # (n, C, *S)
    y = ds.labels[:n]
    if ds.num_classes != 2:
        raise ValueError(f"fit_check reports a binary AUC; {ds.name} has {ds.num_classes} classes")
    torch.manual_seed(seed)
    model = create_model(model_name, ds.spatial_dims, ds.in_chans, 2, **(model_kwargs or {}))
    opt = torch.optim.AdamW(param_groups(model, weight_decay=0.05), lr=lr)  # as the recipe
    start = time.perf_counter()
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, n, (batch_size,))
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        prob = torch.cat([model(x[i : i + 64]).softmax(-1)[:, 1] for i in range(0, n, 64)])
    return {
        "model": model_name,
        "model_kwargs": model_kwargs or {},
        "data": ds.name,
        "samples": n,
        "steps": steps,
        "lr": lr,
        "seed": seed,
        "final_loss": loss.item(),
        "train_auc": float(roc_auc_score(y.numpy(), prob.numpy())),
        "time_s": time.perf_counter() - start,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="MedMNIST .npz file (binary task)")
    p.add_argument("--model-kwargs", type=json.loads, default={})
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--steps", type=int, default=48)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = fit_check(
        args.model,
        args.data,
        args.samples,
        args.steps,
        args.batch_size,
        args.lr,
        args.seed,
        args.model_kwargs,
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
