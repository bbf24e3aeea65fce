"""What the aligned image tower is worth beyond retrieval: linear probes on MedPix body regions
against the same backbone trained supervised on those labels, and transfer to PneumoniaMNIST
with 500 labels by linear probe, LoRA and full fine-tuning.

The towers are the ``image_tower/`` folders of ``benchmarks/align_medpix.py`` runs (seed S's
tower for seed S). Every training step is a ``TrainConfig`` run by ``python -m hybridnets.train
--config`` in a process of its own, its config file and log beside its result; every probe is
``linear_probe.run_probe`` in this process. Finished steps are not run again:

    python benchmarks/align_transfer.py run --seeds 0,1,2      # after align_medpix.py run
    python benchmarks/align_transfer.py summary  # benchmarks/results/align_transfer.{json,md}

Steps per seed S:
- ``region_npz``: MedPix 2.0's own split written once as a MedMNIST-format file of 64² grey
  images with the 5 body regions as labels (under the runs folder, never in the repository).
- ``supervised``: the training recipe with ``model="convvit_n"`` on it, as many epochs as the
  alignment (12), the recipe's defaults otherwise.
- probes (``benchmarks/linear_probe.py``'s protocol, one subsample seed, logistic regression
  and linear SVM, C chosen on val): MedPix regions on the aligned tower, the supervised model
  and a random-init convvit_n; PneumoniaMNIST on the aligned tower with a stratified 500-image
  training subsample.
- ``full`` / ``lora``: the training recipe on ``pneumoniamnist.npz`` with
  ``max_train_samples=500``, ``epochs=30``, ``pretrained=<tower>`` (``lora`` adds
  ``lora_rank=8``).

Data: ``$MEDPIX2_DIR`` / ``$MEDMNIST_DIR``, else ``../shared/data/...`` beside the repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    RESULTS,
    md_table,
    mean_std,
    medmnist_dir,
    medpix_dir,
    plus_minus,
    run_recipe,
    sweep_main,
    sweep_parser,
    write_summary,
)
from linear_probe import ProbeConfig, run_probe

from hybridnets.atomic import atomic_path, atomic_write_text
from hybridnets.train import TrainConfig

_logger = logging.getLogger("align_transfer")
PNEUMONIA_TRAIN = 4708  # PneumoniaMNIST training images (the probe's subsample is 500 of them)
TRANSFER = {"epochs": 30, "max_train_samples": 500}


def pneumonia_file() -> Path:
    return medmnist_dir() / "pneumoniamnist.npz"


def region_npz(medpix: Path, out: Path, size: int = 64) -> Path:
    """MedPix 2.0's train/dev/test as a MedMNIST-format ``.npz`` of body-region labels."""
    from hybridnets.data.pairs import MEDPIX_REGIONS, read_medpix

    arrays = {}
    for split, name in (("train", "train"), ("val", "dev"), ("test", "test")):
        pairs = read_medpix(medpix, name, in_chans=1, size=size)
        labels = pairs.label_index("region", MEDPIX_REGIONS).numpy()
        keep = labels >= 0
        images = (pairs.images[:, 0].numpy() * 255).round().astype(np.uint8)
        arrays[f"{split}_images"] = images[keep]
        arrays[f"{split}_labels"] = labels[keep].astype(np.uint8)[:, None]
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return out


def tower_folder(args: argparse.Namespace, seed: int) -> Path:
    """Seed ``seed``'s aligned image tower: ``<align runs>/<align run>__s<seed>/image_tower``."""
    return args.align_runs / f"{args.align_run}__s{seed}" / "image_tower"


def jobs(
    seed: int, args: argparse.Namespace, region: Path
) -> list[tuple[Path, TrainConfig | ProbeConfig]]:
    """``(output, step)`` of every step of one seed, in order (an output that exists is done):
    a training run's config or a probe's."""
    runs, tower, pneumonia = args.runs, str(tower_folder(args, seed)), str(pneumonia_file())
    sup = runs / f"supervised__s{seed}"

    def train(folder: Path, **settings: Any) -> tuple[Path, TrainConfig]:
        config = TrainConfig(model="convvit_n", seed=seed, num_threads=1, progress=False,
                             out_dir=str(folder), **settings)  # fmt: skip
        return folder / "result.json", config

    def probe(name: str, model: str, data: str, subsample: float) -> tuple[Path, ProbeConfig]:
        config = ProbeConfig(model=model, data=data, seeds=1, subsample=subsample)
        return runs / f"probe_{name}__s{seed}.json", config

    # the share of PneumoniaMNIST's training split that is 500 images, to 6 decimals as the
    # probe's command line once took it (0.106202: 499 images)
    share = round(500 / PNEUMONIA_TRAIN, 6)
    return [
        train(sup, data=str(region), epochs=12),
        probe("region_aligned", tower, str(region), 1.0),
        probe("region_supervised", str(sup / "best"), str(region), 1.0),
        probe("region_random", "convvit_n", str(region), 1.0),
        probe("pneumonia_aligned", tower, pneumonia, share),
        train(runs / f"full__s{seed}", data=pneumonia, **TRANSFER, pretrained=tower),
        train(runs / f"lora__s{seed}", data=pneumonia, **TRANSFER, pretrained=tower, lora_rank=8),
    ]


def _probe(config: ProbeConfig, out: Path) -> None:
    """:func:`linear_probe.run_probe` into ``out``; a probe that fails is logged, and the
    sweep goes on (as it does past a failed training run)."""
    try:
        result = run_probe(config)
    except Exception:
        _logger.exception("probe of %s on %s failed", config.model, config.data)
        return
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")


def run(args: argparse.Namespace) -> int:
    if not (medpix_dir() / "splits").is_dir() or not pneumonia_file().is_file():
        _logger.warning(
            "skipping: needs MedPix 2.0 at %s (MEDPIX2_DIR) and %s (MEDMNIST_DIR)",
            medpix_dir(),
            pneumonia_file(),
        )
        return 0
    region = args.runs / "medpix_region64.npz"
    if not region.is_file():
        region_npz(medpix_dir(), region)
    for seed in args.seeds:
        tower = tower_folder(args, seed)
        if not (tower / "config.json").is_file():
            _logger.warning("seed %d: no aligned tower at %s yet; skipped", seed, tower)
            continue
        for output, step in jobs(seed, args, region):
            if output.is_file():
                continue
            if isinstance(step, ProbeConfig):
                _probe(step, output)
            else:
                run_recipe(step, output.parent / "train.log")
    return 0


def _trainable(result: dict[str, Any]) -> str:
    """``"137.7k of 3.28M"``, or ``"all 3.14M"``."""
    trainable, total = result["trainable_params"], result["params"]
    if trainable == total:
        return f"all {total / 1e6:.2f}M"
    return f"{trainable / 1e3:.1f}k of {total / 1e6:.2f}M"


def _probe_acc(path: Path) -> float:
    """Best test ACC over the probe's classifiers (each chose its C on val)."""
    results = json.loads(path.read_text())["results"]
    return max(r["test_acc"] for r in results.values())


def summary(runs: Path, out: Path = RESULTS) -> Path | None:
    """``align_transfer.json`` / ``.md``: mean ± std over the seeds found."""
    rows: dict[str, dict[str, Any]] = {}

    def add(name: str, values: list[float], **extra: Any) -> None:
        if values:
            rows[name] = {"test_acc": mean_std(values), "seeds": len(values), **extra}

    for what in ("aligned", "supervised", "random"):
        paths = sorted(runs.glob(f"probe_region_{what}__s*.json"))
        add(f"MedPix regions: linear probe, {what} convvit_n", [_probe_acc(p) for p in paths])
    sup = [json.loads(p.read_text()) for p in sorted(runs.glob("supervised__s*/result.json"))]
    add("MedPix regions: supervised convvit_n (fine-tuned end to end)",
        [r["test"]["acc"] for r in sup])  # fmt: skip
    paths = sorted(runs.glob("probe_pneumonia_aligned__s*.json"))
    add("Pneumonia 500: linear probe of the aligned tower", [_probe_acc(p) for p in paths],
        trainable="classifier only")  # fmt: skip
    for mode in ("lora", "full"):
        res = [json.loads(p.read_text()) for p in sorted(runs.glob(f"{mode}__s*/result.json"))]
        if res:
            add(f"Pneumonia 500: {mode} fine-tuning of the aligned tower",
                [r["test"]["acc"] for r in res], auc=mean_std([r["test"]["auc"] for r in res]),
                trainable=_trainable(res[0]), wall_s=statistics.fmean(
                    r["wall_time_s"] for r in res))  # fmt: skip
    if not rows:
        _logger.warning("no finished steps under %s", runs)
        return None
    table = md_table(
        ["setting", "seeds", "test ACC", "test AUC", "trainable", "wall s / run"],
        [[name, r["seeds"], plus_minus(r["test_acc"]),
          plus_minus(r["auc"]) if "auc" in r else "—", r.get("trainable", "—"),
          f"{r['wall_s']:.0f}" if "wall_s" in r else "—"] for name, r in rows.items()],
    )  # fmt: skip
    note = (
        "Aligned towers: convvit_n image towers of `benchmarks/align_medpix.py` (LiT, frozen "
        "all-MiniLM-L6-v2, 64², 12 epochs; seed S's tower for seed S). Probes: "
        "`benchmarks/linear_probe.py --seeds 1` (best of logistic regression and linear SVM, C "
        "on val; the random-init row is one fixed initialisation). Fine-tuning: `python -m hybridnets.train --data pneumoniamnist.npz --epochs 30 "
        "--max-train-samples 500 --pretrained <tower> [--lora-rank 8]` at the native 28². "
        "CPU, fp32, one thread per run."
    )
    return write_summary(out, "align_transfer", rows, note, table)


def main(argv: Sequence[str] | None = None) -> int:
    p = sweep_parser(__doc__.split("\n\n")[0], "runs/align_transfer")
    p.add_argument(
        "--align-runs",
        type=Path,
        default=Path("runs/align_medpix"),
        help="the align_medpix.py run folders (default: runs/align_medpix)",
    )
    p.add_argument(
        "--align-run",
        default="convvit_n@64",
        help="which align_medpix.py run's towers, its folder name without __sS (seed S's tower "
        "for seed S; default: convvit_n@64, scratch, captions only, 64²)",
    )
    return sweep_main(p, argv, run, summary)


if __name__ == "__main__":
    sys.exit(main())
