"""Transfer 2D ImageNet weights to grey 3D CT: transplant → 1 channel → 3D → fine-tune.

    python examples/transfer_3d.py                                  # AdrenalMNIST3D, 3 epochs
    python examples/transfer_3d.py --subset 64 --max-steps 2        # smoke run
    python examples/transfer_3d.py --parents hub                    # real ImageNet weights

``convvit_t``'s ImageNet init is transplanted from timm ``convnext_tiny`` (stem, conv stages,
downsamples) and ``swin_tiny_patch4_window7_224`` (attention blocks, head norm). This machine
has no internet, so by default (``--parents random``) the two timm parents are *randomly
initialised*; the path through transplant, 1-channel adaptation and 2D → 3D inflation is the
same as with ``--parents hub`` (``pretrained="in1k_timm"``, which downloads the timm weights).

On CPU, full fine-tuning of convvit_t on 32³ volumes takes minutes per epoch, so by default the
stem and the two ConvNeXt stages stay frozen (``--freeze-stages 2``) and their outputs are
computed once; the downsample into the attention stages, the attention stages and the head are
trained, which re-harmonises the ConvNeXt → Swin junction. ``--freeze-stages 0`` fine-tunes all.
Data: MedMNIST AdrenalMNIST3D (Yang et al., Scientific Data 2023; CC BY 4.0), not downloaded
here: get ``adrenalmnist3d.npz`` from https://medmnist.com (Zenodo 10.5281/zenodo.10519652) or
with ``pip install medmnist`` and ``python -m medmnist save --flag=adrenalmnist3d --postfix=npz``,
then pass ``--data PATH``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

import hybridnets
from hybridnets.models import convvit_from_timm
from hybridnets.pretrained import load_pretrained, write_state_dict

REPO = Path(__file__).resolve().parents[1]
WHERE_FROM = (
    "MedMNIST files are not downloaded by this example. Get adrenalmnist3d.npz from "
    "https://medmnist.com (Zenodo record 10.5281/zenodo.10519652) or with `pip install medmnist` "
    "and `python -m medmnist save --flag=adrenalmnist3d --postfix=npz`, then pass --data PATH."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags; exits at once (with where to get it) when ``--data`` is missing."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO / "../shared/data/adrenalmnist3d.npz")
    p.add_argument("--parents", choices=("random", "hub"), default="random")
    p.add_argument("--size", type=int, default=32, help="volumes are resized to size³ (≥ 32)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--freeze-stages", type=int, default=2, choices=(0, 1, 2))
    p.add_argument("--subset", type=int, default=None, help="use the first N volumes per split")
    p.add_argument("--max-steps", type=int, default=None, help="stop training after N steps")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not args.data.is_file():
        p.error(f"--data {args.data.resolve()} not found. {WHERE_FROM}")
    return args


def transplanted_source(parents: str, folder: Path) -> str:
    """A ``pretrained`` source for convvit_t: the hub tag, or a file from random timm parents."""
    if parents == "hub":
        return "in1k_timm"
    print("timm parents: convnext_tiny + swin_tiny, RANDOMLY INITIALISED (no internet here)")
    convnext = timm.create_model("convnext_tiny", pretrained=False)
    swin = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False)
    path = folder / "convvit_t_from_timm.safetensors"
    write_state_dict(convvit_from_timm(convnext.state_dict(), swin.state_dict()), path)
    return str(path)


def load_split(data: np.lib.npyio.NpzFile, split: str, cfg: dict, size: int, subset: int | None):
    """``(N, 1, size, size, size)`` float volumes normalised with the weights' mean/std, labels."""
    images = torch.from_numpy(data[f"{split}_images"][:subset]).float() / 255.0
    labels = torch.from_numpy(data[f"{split}_labels"][:subset]).long().view(-1)
    volumes = F.interpolate(images[:, None], size=(size,) * 3, mode="trilinear")
    return (volumes - cfg["mean"][0]) / cfg["std"][0], labels


def split_model(model: nn.Module, frozen: int) -> tuple[nn.Module, nn.Module]:
    """(frozen trunk, trainable rest) of a ConvViT; the rest ends in the classifier."""
    trunk = nn.Sequential(model.stem, *model.stages[:frozen]).eval().requires_grad_(False)
    rest = nn.Sequential(*model.stages[frozen:])
    return trunk, rest


@torch.no_grad()
def in_batches(fn, x: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)])


@torch.no_grad()
def evaluate(model: nn.Module, rest: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int):
    model.eval()
    probs = in_batches(lambda b: model.forward_head(rest(b)).softmax(-1)[:, 1], x, batch)
    acc = ((probs > 0.5).long() == y).float().mean().item()
    auc = roc_auc_score(y.numpy(), probs.numpy()) if len(set(y.tolist())) > 1 else float("nan")
    return acc, auc


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        source = transplanted_source(args.parents, Path(tmp))
        model = hybridnets.create("convvit_t", in_chans=1, spatial_dims=3, num_classes=2)
        report = load_pretrained(model, source)  # RGB → grey, 2D → 3D, 1000 → 2 classes
    print(str(report).splitlines()[0])
    for key in ("stem.0.weight", "stages.2.blocks.0.attn.rpb.relative_position_bias_table"):
        print(f"  {key}: {report.adapted[key]}")

    data = np.load(args.data)
    cfg = model.pretrained_cfg
    splits = {s: load_split(data, s, cfg, args.size, args.subset) for s in ("train", "val", "test")}
    trunk, rest = split_model(model, args.freeze_stages)
    if args.freeze_stages:  # frozen and deterministic: compute their outputs once
        t0 = time.time()
        splits = {s: (in_batches(trunk, x, 32), y) for s, (x, y) in splits.items()}
        print(
            f"frozen stem + {args.freeze_stages} ConvNeXt stages run once: {time.time() - t0:.0f}s"
        )
    else:
        rest = nn.Sequential(trunk.train().requires_grad_(True), rest)

    x_train, y_train = splits["train"]
    steps_per_epoch = -(-len(x_train) // args.batch_size)
    total = min(args.epochs * steps_per_epoch, args.max_steps or 10**9)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=total)
    print(f"training {sum(p.numel() for p in params) / 1e6:.1f}M parameters for {total} steps")
    step = 0
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train))
        losses = []
        for i in range(0, len(order), args.batch_size):
            if step == total:
                break
            idx = order[i : i + args.batch_size]
            loss = F.cross_entropy(model.forward_head(rest(x_train[idx])), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            step += 1
        acc, auc = evaluate(model, rest, *splits["val"], args.batch_size * 2)
        print(
            f"epoch {epoch + 1}: loss {np.mean(losses):.3f}  val acc {acc:.3f}  val AUC {auc:.3f}"
            f"  ({time.time() - start:.0f}s)"
        )
        if step == total:
            break
    acc, auc = evaluate(model, rest, *splits["test"], args.batch_size * 2)
    print(f"test acc {acc:.3f}  test AUC {auc:.3f}  wall time {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
