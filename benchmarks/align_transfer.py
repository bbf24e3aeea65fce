"""What the aligned image tower is worth beyond retrieval: linear probes on MedPix body regions
against the same backbone trained supervised on those labels, and transfer to PneumoniaMNIST
with 500 labels by linear probe, LoRA and full fine-tuning.

The towers are the ``image_tower/`` folders of ``benchmarks/align_medpix.py`` runs (seed S's
tower for seed S). Every step is a subprocess of the library's own commands, logged beside its
output; finished steps are not run again:

    python benchmarks/align_transfer.py run --seeds 0,1,2      # after align_medpix.py run
    python benchmarks/align_transfer.py summary  # benchmarks/results/align_transfer.{json,md}

Steps per seed S:
- ``region_npz``: MedPix 2.0's own split written once as a MedMNIST-format file of 64² grey
  images with the 5 body regions as labels (under the runs folder, never in the repository).
- ``supervised``: ``python -m hybridnets.train --model convvit_n`` on it, as many epochs as the
  alignment (12), the recipe's defaults otherwise.
- probes (``benchmarks/linear_probe.py``, logistic regression and linear SVM, C chosen on val):
  MedPix regions on the aligned tower, the supervised model and a random-init convvit_n;
  PneumoniaMNIST on the aligned tower with a stratified 500-image training subsample.
- ``full`` / ``lora``: ``python -m hybridnets.train --data pneumoniamnist.npz
  --max-train-samples 500 --epochs 30 --pretrained <tower>`` (``lora`` adds ``--lora-rank 8``).

Data: ``$MEDPIX2_DIR`` / ``$MEDMNIST_DIR``, else ``../shared/data/...`` beside the repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS, mean_std, run_logged, sweep_main, sweep_parser, write_summary

from hybridnets.atomic import atomic_path

_logger = logging.getLogger("align_transfer")
HERE = Path(__file__).parent
PNEUMONIA_TRAIN = 4708  # PneumoniaMNIST training images (the probe's subsample is 500 of them)
TRANSFER = ["--epochs", "30", "--max-train-samples", "500"]


def medpix_dir() -> Path:
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "medpix2"
    return Path(os.environ.get("MEDPIX2_DIR", default))


def pneumonia_file() -> Path:
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(os.environ.get("MEDMNIST_DIR", default)) / "pneumoniamnist.npz"


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


def jobs(seed: int, args: argparse.Namespace, region: Path) -> list[tuple[Path, list[str]]]:
    """``(output, argv)`` of every step of one seed, in order (an output that exists is done)."""
    runs, py = args.runs, sys.executable
    tower = tower_folder(args, seed)
    pneumonia = pneumonia_file()
    probe = [py, str(HERE / "linear_probe.py"), "--seeds", "1"]
    train = [py, "-m", "hybridnets.train", "--model", "convvit_n", "--seed", str(seed)]
    train += ["--num-threads", "1", "--no-progress"]
    sup = runs / f"supervised__s{seed}"
    out = [
        (sup / "result.json", [*train, "--data", str(region), "--epochs", "12", "--out", str(sup)]),
        (runs / f"probe_region_aligned__s{seed}.json",
         [*probe, "--model", str(tower), "--data", str(region), "--subsample", "1"]),
        (runs / f"probe_region_supervised__s{seed}.json",
         [*probe, "--model", str(sup / "best"), "--data", str(region), "--subsample", "1"]),
        (runs / f"probe_region_random__s{seed}.json",
         [*probe, "--model", "convvit_n", "--data", str(region), "--subsample", "1"]),
        (runs / f"probe_pneumonia_aligned__s{seed}.json",
         [*probe, "--model", str(tower), "--data", str(pneumonia),
          "--subsample", f"{500 / PNEUMONIA_TRAIN:.6f}"]),
    ]  # fmt: skip
    for mode, extra in (("full", []), ("lora", ["--lora-rank", "8"])):
        folder = runs / f"{mode}__s{seed}"
        argv = [*train, "--data", str(pneumonia), *TRANSFER, "--pretrained", str(tower), *extra]
        out.append((folder / "result.json", [*argv, "--out", str(folder)]))
    for path, argv in out:
        if path.suffix == ".json" and "linear_probe.py" in argv[1]:
            argv += ["--out", str(path)]
    return out


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
        for output, argv in jobs(seed, args, region):
            if output.is_file():
                continue
            log = output.with_suffix(".log")
            run_logged(argv, output.parent / "train.log" if output.name == "result.json" else log)
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
    lines = ["| setting | seeds | test ACC | test AUC | trainable | wall s / run |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in rows.items():
        auc = f"{r['auc'][0]:.3f} ± {r['auc'][1]:.3f}" if "auc" in r else "—"
        wall = f"{r['wall_s']:.0f}" if "wall_s" in r else "—"
        acc = f"{r['test_acc'][0]:.3f} ± {r['test_acc'][1]:.3f}"
        lines.append(f"| {name} | {r['seeds']} | {acc} | {auc} | {r.get('trainable', '—')} | "
                     f"{wall} |")  # fmt: skip
    note = (
        "Aligned towers: convvit_n image towers of `benchmarks/align_medpix.py` (LiT, frozen "
        "all-MiniLM-L6-v2, 64², 12 epochs; seed S's tower for seed S). Probes: "
        "`benchmarks/linear_probe.py --seeds 1` (best of logistic regression and linear SVM, C "
        "on val; the random-init row is one fixed initialisation). Fine-tuning: `python -m hybridnets.train --data pneumoniamnist.npz --epochs 30 "
        "--max-train-samples 500 --pretrained <tower> [--lora-rank 8]` at the native 28². "
        "CPU, fp32, one thread per run."
    )
    return write_summary(out, "align_transfer", rows, note, "\n".join(lines))


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
