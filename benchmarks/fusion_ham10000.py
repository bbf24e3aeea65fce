"""HAM10000 image + clinical-data benchmark: metadata-only logistic regression, image-only
models and the three fusions, on the same grouped splits.

Every neural run is ``python -m hybridnets.train`` on a table that points at the dataset's
images (written under the runs folder; the images are never copied), one process per run, its
log beside its result; finished runs (``result.json`` present) are not run again, so an
interrupted sweep resumes, and sweeps started side by side (``--seeds 0,1`` and ``--seeds 2``)
skip a run whose log another one is writing. The split is the recipe's own grouped
(``lesion_id``), label-stratified 70/15/15 split drawn with the run's seed, so every model of
one seed sees the same rows; the logistic regression uses that split too (fit on train, scored on test):

    python benchmarks/fusion_ham10000.py run --seeds 0,1,2 --input-size 64 --epochs 12 \\
        --max-train-samples 2000
    python benchmarks/fusion_ham10000.py summary   # benchmarks/results/fusion_ham10000.{json,md}

Arms (``--arms``): ``logreg`` (age, sex, site; one-hot, class-balanced), ``<model>`` (image
only) and ``<model>+late|cross|coattn`` (image fused with age, sex and site). ``dx_type`` is
never an input: it leaks the label.

Data: ``$HAM10000_DIR``, else ``../shared/data/ham10000`` beside the repository (research use
only). Without it the script says where it looked and exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    RESULTS,
    group_results,
    run_logged,
    shared_data,
    sweep_main,
    sweep_parser,
    write_summary,
)

from hybridnets.atomic import atomic_write_text
from hybridnets.data.ham10000 import HAM10000_CLINICAL, write_ham10000_table

_logger = logging.getLogger("fusion_ham10000")
CLINICAL = HAM10000_CLINICAL
DEFAULT_ARMS = "logreg,resnet18,convvit_n,convvit_n+late,convvit_n+cross,convvit_n+coattn"
METRICS = ("balanced_acc", "auc", "acc")


def data_dir() -> Path:
    """``$HAM10000_DIR``, else ``../shared/data/ham10000`` beside the repository."""
    return shared_data("HAM10000_DIR", "ham10000")


def write_table(data: Path, out: Path) -> Path:
    """``out`` = the recipe's table (image path, dx, age, sex, site, lesion_id)."""
    return write_ham10000_table(data, out)


def run_folder(runs: Path, arm: str, seed: int) -> Path:
    return runs / f"{arm.replace('+', '_')}__s{seed}"


def command(arm: str, seed: int, args: argparse.Namespace, table: Path) -> list[str]:
    """The recipe's command line of one image or fusion arm."""
    model, _, fusion = arm.partition("+")
    argv = [sys.executable, "-m", "hybridnets.train", "--model", model, "--data", str(table)]
    argv += ["--image-col", "image_path", "--label-col", "dx", "--group-col", "lesion_id"]
    argv += ["--allow-outside-paths"]  # the table points into the dataset's own folder
    if fusion:
        argv += ["--tabular", ",".join(CLINICAL), "--fusion", fusion]
    argv += [
        "--input-size",
        str(args.input_size),
        "--epochs",
        str(args.epochs),
        "--seed",
        str(seed),
    ]
    if args.max_train_samples:
        argv += ["--max-train-samples", str(args.max_train_samples)]
    argv += ["--out", str(run_folder(args.runs, arm, seed)), "--num-threads", "1"]
    return [*argv, "--no-progress", *args.extra]


def logistic_regression(table: Path, seed: int) -> dict[str, Any]:
    """Metadata-only baseline on the recipe's split of ``seed``: one-hot sites and sex,
    standardised age with a missing flag, class-balanced logistic regression."""
    from sklearn.linear_model import LogisticRegression

    from hybridnets.data.table import grouped_split, load_table
    from hybridnets.data.tabular import TabularPreprocessor
    from hybridnets.metrics import classification_metrics

    tic = time.perf_counter()
    t = load_table(
        table, "image_path", "dx", CLINICAL, "lesion_id", cache=False, allow_outside=True
    )
    train, _, test = grouped_split(t.groups, t.labels, (0.7, 0.15, 0.15), seed)
    pre = TabularPreprocessor.infer(t.tabular_rows(train), CLINICAL)
    pre.fit(t.tabular_rows(train))

    def features(index: np.ndarray) -> np.ndarray:
        b = pre.transform(t.tabular_rows(index))
        onehots = [np.eye(size)[b.categorical[:, j].numpy()] for j, (_, size) in enumerate(
            pre.spec.categorical)]  # fmt: skip
        return np.concatenate([b.numeric.numpy(), b.numeric_missing.numpy(), *onehots], 1)

    labels = t.labels.numpy()
    clf = LogisticRegression(max_iter=2000, class_weight="balanced")
    clf.fit(features(train), labels[train])
    probs = clf.predict_proba(features(test))
    return {
        "model": "logreg",
        "arm": "logreg",
        "params": int(clf.coef_.size + clf.intercept_.size),
        "train_samples": len(train),
        "test": classification_metrics(labels[test], probs),
        "wall_time_s": time.perf_counter() - tic,
        "config": {"seed": seed, "tabular": ",".join(CLINICAL)},
    }


def _running(folder: Path, quiet_s: float = 300.0) -> bool:
    """Whether another sweep process is on this run (its log written in the last
    ``quiet_s`` seconds: the recipe logs every epoch), so parallel sweeps share the work."""
    log = folder / "train.log"
    if log.is_file() and time.time() - log.stat().st_mtime < quiet_s:
        _logger.info("%s: in progress elsewhere; skipped", folder.name)
        return True
    return False


def run(args: argparse.Namespace) -> int:
    data = data_dir()
    if not (data / "HAM10000_metadata_ext.csv").is_file():
        _logger.warning("skipping: no HAM10000 at %s (set HAM10000_DIR)", data)
        return 0
    table = write_table(data, args.runs / "ham10000.csv")
    for seed in args.seeds:
        for arm in args.arms:
            folder = run_folder(args.runs, arm, seed)
            if (folder / "result.json").is_file() or _running(folder):
                continue
            folder.mkdir(parents=True, exist_ok=True)
            if arm == "logreg":
                result = logistic_regression(table, seed)
                atomic_write_text(folder / "result.json", json.dumps(result, indent=2) + "\n")
                continue
            argv = command(arm, seed, args, table)
            run_logged(argv, folder / "train.log")
    return 0


def arm_of(result: dict[str, Any]) -> str:
    """``logreg``, ``<model>`` or ``<model>+<fusion>`` from a result.json."""
    config = result["config"]
    if result.get("arm") == "logreg":
        return "logreg"
    return result["model"] + (f"+{config['fusion']}" if config.get("tabular") else "")


def summarise(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std over seeds of one arm's test metrics."""
    row: dict[str, Any] = {
        "arm": arm_of(results[0]),
        "params_M": results[0]["params"] / 1e6,
        "train_samples": results[0]["train_samples"],
        "seeds": [r["config"]["seed"] for r in results],
        "wall_time_s": statistics.fmean(r["wall_time_s"] for r in results),
    }
    for name in METRICS:
        values = [r["test"][name] for r in results]
        row[name] = (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
    return row


def table_md(rows: Sequence[dict[str, Any]]) -> str:
    head = ["arm", "params", "train rows", "seeds", "balanced acc", "macro AUC", "ACC", "wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        params = f"{r['params_M']:.2f}M" if r["params_M"] >= 0.01 else f"{r['params_M'] * 1e6:.0f}"
        cells = [r["arm"], params, str(r["train_samples"]), str(len(r["seeds"]))]
        cells += [f"{r[m][0]:.3f} ± {r[m][1]:.3f}" for m in METRICS]
        cells.append(f"{r['wall_time_s']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(runs: Path, out: Path = RESULTS) -> Path | None:
    """``fusion_ham10000.json`` and ``.md`` (mean ± std over seeds) from the finished runs."""
    groups = group_results(runs, arm_of)
    if not groups:
        _logger.warning("no finished runs under %s", runs)
        return None
    rows = [summarise(results) for results in groups.values()]
    neural = [r for results in groups.values() for r in results if r.get("arm") != "logreg"]
    config = neural[0]["config"] if neural else {}
    note = (
        "HAM10000, grouped by lesion_id, label-stratified 70/15/15 split per seed (the recipe's "
        f"own); test metrics of the selected weights. Images {config.get('input_size', config.get('resize'))}², "
        f"{config.get('epochs')} epochs, train subset {config.get('max_train_samples')} "
        f"(stratified), recipe options beyond the defaults: class_balance="
        f"{config.get('class_balance')}. Clinical columns: {', '.join(CLINICAL)} (never "
        "dx_type). Commands: `python benchmarks/fusion_ham10000.py run ...` (each run's "
        "command line is in its result.json config). CPU, fp32, one thread per run, 2–5 runs sharing two cores (wall times inflated)."
    )
    return write_summary(out, "fusion_ham10000", rows, note, table_md(rows))


def main(argv: Sequence[str] | None = None) -> int:
    p = sweep_parser(__doc__.split("\n\n")[0], "runs/fusion_ham10000")
    p.add_argument(
        "--arms",
        default=DEFAULT_ARMS,
        type=lambda s: s.split(","),
        help=f"logreg, <model> or <model>+late|cross|coattn, comma-separated (default: "
        f"{DEFAULT_ARMS})",
    )
    p.add_argument("--input-size", type=int, default=64, help="image side length (default: 64)")
    p.add_argument("--epochs", type=int, default=12, help="epochs per run (default: 12)")
    p.add_argument(
        "--max-train-samples",
        type=int,
        default=2000,
        help="stratified training subset per run, 0 for all (default: 2000)",
    )
    p.add_argument(
        "--extra",
        default="--class-balance loss",
        type=str.split,
        help="more recipe options, quoted (default: '--class-balance loss')",
    )
    return sweep_main(p, argv, run, summary)


if __name__ == "__main__":
    sys.exit(main())
