"""What one training epoch costs under the recipe: ours against a baseline, the same command.

Each model trains one epoch on a fixed training subset with the recipe's defaults (then its
validation and test evaluation, as every epoch of a real run), in a fresh single-thread
process; the runs are interleaved over ``--repeats`` rounds so a machine's drift hits every
model alike, and the median is reported: wall time per run (the recipe's ``wall_time_s``),
training time of the epoch (``train_s``) and images per second.

    python benchmarks/epoch_cost.py --data ../shared/data/adrenalmnist3d.npz \\
        --models 'convvit_n;monai_resnet18={"conv1_t_stride": 2}' --max-train-samples 512
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import RESULTS, env_info, run_recipe, write_summary

from hybridnets.train import TrainConfig

_logger = logging.getLogger("benchmarks.epoch_cost")


def parse_models(text: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """``'convvit_n;monai_resnet18={"conv1_t_stride": 2}'`` → label → (model, kwargs)."""
    out = {}
    for item in (i.strip() for i in text.split(";") if i.strip()):
        name, _, kwargs = item.partition("=")
        try:
            out[item] = (name.strip(), json.loads(kwargs) if kwargs else {})
        except json.JSONDecodeError as err:
            raise argparse.ArgumentTypeError(
                f"{item!r}: the kwargs after = must be JSON ({err})"
            ) from None
    if not out:
        raise argparse.ArgumentTypeError("give at least one model")
    return out


def measure(args: argparse.Namespace, runs: Path) -> list[dict[str, Any]]:
    """Every model's runs, interleaved; one row per model with the medians."""
    times: dict[str, list[dict[str, float]]] = {label: [] for label in args.models}
    for repeat in range(args.repeats):
        for i, (label, (model, kwargs)) in enumerate(args.models.items()):
            folder = runs / f"model{i}_{model}_round{repeat}"
            config = TrainConfig(
                model=model, model_kwargs=kwargs, data=str(args.data), epochs=1,
                max_train_samples=args.max_train_samples, batch_size=args.batch_size,
                seed=repeat, out_dir=str(folder), num_threads=1, progress=False,
            )  # fmt: skip
            if run_recipe(config, folder / "train.log") != 0:
                raise RuntimeError(f"{label}: the run failed, see {folder / 'train.log'}")
            result = json.loads((folder / "result.json").read_text())
            epoch = result["history"][0]
            times[label].append(
                {"wall_s": result["wall_time_s"], "train_s": epoch["train_s"],
                 "images_per_s": epoch["images_per_s"], "params_M": result["params"] / 1e6}
            )  # fmt: skip
    rows = []
    for label, runs_of in times.items():
        row = {"model": label, "repeats": len(runs_of), "params_M": runs_of[0]["params_M"]}
        for key in ("wall_s", "train_s", "images_per_s"):
            row[key] = statistics.median(r[key] for r in runs_of)
            row[f"{key}_all"] = [r[key] for r in runs_of]
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a MedMNIST-format .npz")
    p.add_argument(
        "--models",
        type=parse_models,
        default=parse_models('convvit_n;monai_resnet18={"conv1_t_stride": 2}'),
        help="';'-separated models, each optionally name=JSON kwargs "
        '(default: convvit_n;monai_resnet18={"conv1_t_stride": 2})',
    )
    p.add_argument("--max-train-samples", type=int, default=512, help="training subset (512)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (32)")
    p.add_argument("--repeats", type=int, default=3, help="rounds; the median is reported (3)")
    p.add_argument("--name", default="epoch_cost", help="results/<name>.json and .md")
    p.add_argument("--out", type=Path, default=RESULTS, help="where the summary goes")
    args = p.parse_args(argv)
    if not args.data.is_file():
        p.error(f"--data {args.data} does not exist")
    with tempfile.TemporaryDirectory(prefix="epoch_cost_") as tmp:
        rows = measure(args, Path(tmp))
    env = env_info("cpu") | {"threads": 1}
    note = (
        f"One epoch on {args.max_train_samples} training images of `{args.data.name}` (batch "
        f"{args.batch_size}) plus the validation and test evaluation, the train recipe's "
        f"defaults, one thread per run, {env['device_name']}; median of {args.repeats} "
        "interleaved runs.\n\n"
    )
    table = "| model | params (M) | wall s / run | train s / epoch | images / s |\n"
    table += "|---|---:|---:|---:|---:|\n"
    table += "".join(
        f"| {r['model']} | {r['params_M']:.2f} | {r['wall_s']:.1f} | {r['train_s']:.1f} | "
        f"{r['images_per_s']:.1f} |\n"
        for r in rows
    )
    write_summary(args.out, args.name, {"env": env, "rows": rows}, note, table)
    print(note + table)
    return rows


if __name__ == "__main__":
    main()
