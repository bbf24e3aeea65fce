"""MedPix 2.0 image–text benchmark: LiT (frozen all-MiniLM-L6-v2) with several image towers.

Every run is ``python -m hybridnets.align`` on the dataset's own case-disjoint split (1,653
train / 197 dev / 200 test images), one process per run, its log beside its result; finished
runs (``result.json`` present) are not run again, so an interrupted sweep resumes. The
summary is mean ± std over seeds of the test split's retrieval (R@1/5/10 and median rank,
image→text over the 128 distinct test captions and text→image) and zero-shot accuracy on the
5 body regions and CT vs MR:

    python benchmarks/align_medpix.py run --models convvit_n,resnet18 --seeds 0,1,2 \\
        --input-size 128 --epochs 30
    python benchmarks/align_medpix.py summary     # benchmarks/results/align_medpix.{json,md}

Data: ``$MEDPIX2_DIR``, else ``../shared/data/medpix2`` beside the repository (research use
only: never copied into the repository). Without it the script says where it looked and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import RESULTS, group_results, sweep_main, sweep_parser, write_summary

_logger = logging.getLogger("align_medpix")
METRICS = {  # column -> path in result["test"]
    "i2t R@1": ("image_to_text", "R@1"),
    "i2t R@5": ("image_to_text", "R@5"),
    "i2t R@10": ("image_to_text", "R@10"),
    "i2t med": ("image_to_text", "median_rank"),
    "t2i R@1": ("text_to_image", "R@1"),
    "t2i R@5": ("text_to_image", "R@5"),
    "t2i R@10": ("text_to_image", "R@10"),
    "t2i med": ("text_to_image", "median_rank"),
    "region acc": ("zero_shot", "region", "acc"),
    "region bal.": ("zero_shot", "region", "balanced_acc"),
    "CT/MR acc": ("zero_shot", "modality", "acc"),
}


def data_dir() -> Path:
    """``$MEDPIX2_DIR``, else ``../shared/data/medpix2`` beside the repository."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "medpix2"
    return Path(os.environ.get("MEDPIX2_DIR", default))


def run_folder(runs: Path, model: str, seed: int) -> Path:
    return runs / f"{model}__s{seed}"


def command(model: str, seed: int, args: argparse.Namespace, data: Path) -> list[str]:
    """The recipe's command line of one run (LiT: the text tower is frozen by default)."""
    argv = [sys.executable, "-m", "hybridnets.align", "--model", model, "--data", str(data)]
    argv += ["--input-size", str(args.input_size), "--epochs", str(args.epochs)]
    argv += ["--seed", str(seed), "--out", str(run_folder(args.runs, model, seed))]
    argv += ["--num-threads", str(args.num_threads), "--no-progress", *args.extra]
    return argv


def run(args: argparse.Namespace) -> int:
    data = data_dir()
    if not (data / "splits" / "descriptions_train.jsonl").is_file():
        _logger.warning("skipping: no MedPix 2.0 at %s (set MEDPIX2_DIR)", data)
        return 0
    for model in args.models:
        for seed in args.seeds:
            folder = run_folder(args.runs, model, seed)
            if (folder / "result.json").is_file():
                continue
            folder.mkdir(parents=True, exist_ok=True)
            argv = command(model, seed, args, data)
            _logger.info("running %s", " ".join(argv[1:]))
            with open(folder / "align.log", "w") as log:
                done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
            _logger.info("%s exited %d", folder.name, done.returncode)
    return 0


def _get(result: dict[str, Any], path: tuple[str, ...]) -> float:
    value: Any = result["test"]
    for key in path:
        value = value[key]
    return float(value)


def summarise(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std over seeds of every metric of one model's results."""
    row: dict[str, Any] = {
        "model": results[0]["model"],
        "text_model": "/".join(Path(results[0]["text_model"]).parts[-2:]),
        "mode": results[0]["mode"],
        "input_size": results[0]["config"]["input_size"],
        "epochs": results[0]["config"]["epochs"],
        "params_M": results[0]["image_params"] / 1e6,
        "seeds": [r["config"]["seed"] for r in results],
        "wall_time_s": [r["wall_time_s"] for r in results],
    }
    for name, path in METRICS.items():
        values = [_get(r, path) for r in results]
        row[name] = (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
    return row


def table(rows: Sequence[dict[str, Any]]) -> str:
    head = ["model", "input", "epochs", "image params", "seeds", *METRICS, "wall s / run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"], str(r["input_size"]), str(r["epochs"]), f"{r['params_M']:.2f}M"]
        cells.append(str(len(r["seeds"])))
        for name in METRICS:
            mean, std = r[name]
            cells.append(f"{mean:.1f} ± {std:.1f}" if "med" in name else f"{mean:.3f} ± {std:.3f}")
        cells.append(f"{statistics.fmean(r['wall_time_s']):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(runs: Path, out: Path = RESULTS) -> Path | None:
    """``align_medpix.json`` and ``.md`` (mean ± std over seeds) from the finished runs."""
    groups = group_results(runs, lambda r: r["model"])
    if not groups:
        _logger.warning("no finished runs under %s", runs)
        return None
    rows = [summarise(results) for results in groups.values()]
    first = next(iter(groups.values()))[0]
    note = (
        f"MedPix 2.0 test split ({first['test_pairs']} images, {first['test_captions']} distinct "
        f"captions; chance R@10 = 10/{first['test_captions']} image→text). LiT: image tower from "
        f"scratch, text tower {rows[0]['text_model']} frozen. Zero-shot prompts: "
        "hybridnets/align/prompts.py. Commands: `python benchmarks/align_medpix.py run ...` "
        "(each run's command line is in its result.json config)."
    )
    return write_summary(out, "align_medpix", rows, note, table(rows))


def main(argv: Sequence[str] | None = None) -> int:
    p = sweep_parser(__doc__.split("\n\n")[0], "runs/align_medpix")
    p.add_argument("--models", default="convvit_n,convvit_t,resnet18", type=lambda s: s.split(","))
    p.add_argument("--input-size", type=int, default=128, help="side length (default: 128)")
    p.add_argument("--epochs", type=int, default=30, help="epochs per run (default: 30)")
    p.add_argument("--num-threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--extra", default="", type=str.split, help="more recipe options, quoted")
    return sweep_main(p, argv, run, summary)


if __name__ == "__main__":
    sys.exit(main())
