"""Flip test-time augmentation, measured on finished runs: each run's kept weights scored on
its own test split without and with ``--tta flip`` (the mean of the probabilities of each image
and of its mirror image). The weights are the same, so Δ is paired per seed; nothing trains.

    python benchmarks/tta_flip.py --runs runs/small_data runs/fusion_64 --name tta_flip

A run is a folder ``<name>__s<seed>/`` holding ``result.json`` and its checkpoint (what
``small_data.py`` and ``fusion_ham10000.py`` write); runs sharing the folder name without the
seed, input size, training samples and epochs form one row (its task: small_data's setting,
the part before ``__``, or else the run's data). The weights were selected on validation
without TTA (``--tta flip`` at training also selects with it), so the measurement is what a
user gets from ``python -m hybridnets.predict --tta flip`` on a model already trained.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import (
    RESULTS,
    env_info,
    group_results,
    md_table,
    mean_std,
    plus_minus,
    write_summary,
)

import hybridnets

_logger = logging.getLogger("benchmarks.tta_flip")

METRICS = ("acc", "balanced_acc", "auc")
_SEED = re.compile(r"__s(\d+)$")


def finished_runs(roots: Sequence[Path]) -> list[dict[str, Any]]:
    """The ``result.json`` of every finished run (``*__s<seed>/``) directly under each root."""
    for root in roots:
        if not root.is_dir():
            raise SystemExit(f"--runs {root}: not a folder")
    return [r for root in roots for runs in group_results(root, _name).values() for r in runs]


def _name(result: dict[str, Any]) -> str:
    """The run's folder name without its seed."""
    return _SEED.sub("", Path(result["config"]["out_dir"]).name)


def score(result: dict[str, Any]) -> dict[str, Any]:
    """One run's test metrics without and with flip, and what groups it."""
    config = result["config"]
    ckpt = hybridnets.load(result["checkpoint"])
    scored = {
        tta: ckpt.predict(config["data"], "test", "cpu", tta=tta).metrics()
        for tta in ("none", "flip")
    }
    trained_tta = ckpt.recipe.get("tta", "none")  # the views its result.json was scored with
    recorded = {m: result["test"][m] for m in METRICS}
    if {m: scored[trained_tta][m] for m in METRICS} != recorded:
        _logger.warning("%s: re-scored %s differs from result.json %s", ckpt.folder, scored,
                        recorded)  # fmt: skip
    setting, _, label = _name(result).partition("__")  # small_data's naming
    if not label:  # <model>__s<seed> (fusion_ham10000.py): the data names the task
        setting, label = result["data"], setting
    task = (f"{setting}, {ckpt.recipe['input_size']} px, {result['train_samples']} train, "
            f"{config['epochs']} epochs")  # fmt: skip
    return {"task": task, "model": label, "seed": config["seed"]} | {
        tta: {m: scored[tta][m] for m in METRICS} for tta in scored
    }


def summarise(scores: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (task, model): seeds, mean ± std without and with flip, and the paired Δ with its
    standard error (std of the per-seed differences / sqrt(n))."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in scores:
        groups.setdefault((s["task"], s["model"]), []).append(s)
    rows = []
    for (task, model), runs in groups.items():
        row = {"task": task, "model": model, "seeds": [r["seed"] for r in runs]}
        for m in METRICS:
            diffs = [r["flip"][m] - r["none"][m] for r in runs]
            se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else None
            row[m] = {"none": mean_std(r["none"][m] for r in runs),
                      "flip": mean_std(r["flip"][m] for r in runs),
                      "delta": statistics.fmean(diffs), "se": se}  # fmt: skip
        rows.append(row)
    return rows


def _delta(d: dict[str, Any]) -> str:
    se = "" if d["se"] is None else f" ± {d['se'] * 100:.1f}"
    return f"{d['delta'] * 100:+.1f}{se}"


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    head = ["task", "model", "seeds", *(f"{m}: none → flip" for m in METRICS),
            *(f"Δ {m} (points)" for m in METRICS)]  # fmt: skip
    cells = [[r["task"], r["model"], len(r["seeds"]),
              *(f"{plus_minus(r[m]['none'])} → {plus_minus(r[m]['flip'])}" for m in METRICS),
              *(_delta(r[m]) for m in METRICS)] for r in rows]  # fmt: skip
    return md_table(head, cells)


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True,
                        help="folders holding finished runs (<name>__s<seed>/)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the summary goes")
    parser.add_argument("--name", default="tta_flip", help="the results' file name")
    parser.add_argument("--num-threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.num_threads)
    results = finished_runs(args.runs)
    if not results:
        raise SystemExit(f"no finished runs (<name>__s<seed>/result.json) in {args.runs}")
    rows = summarise([score(r) for r in results])
    note = ("Flip test-time augmentation on finished runs: each run's kept weights (selected on "
            "validation without TTA) scored on its test split without and with flip; Δ paired "
            f"per seed, ± its standard error, in points. {env_info()['device_name']}, fp32, "
            f"{args.num_threads} thread(s). Command: `python benchmarks/tta_flip.py --runs "
            f"{' '.join(p.name for p in args.runs)}`.")  # fmt: skip
    path = write_summary(args.out, args.name, rows, note, markdown(rows))
    print(path)
    return path


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    main()
