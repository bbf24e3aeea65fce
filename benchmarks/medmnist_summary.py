"""Aggregate MedMNIST training runs into ``results/medmnist.json`` and print the results table.

Each run folder is what ``python -m hybridnets.train --out RUN`` writes (``result.json``), plus
``RUN/probe.json`` when ``benchmarks/linear_probe.py --model RUN/best --out RUN/probe.json`` ran.
Runs of one setting (seeds) become one row: mean ± std (ddof=1) of every metric.

    python benchmarks/medmnist_summary.py add runs/adr_convvit_n_s0 runs/adr_convvit_n_s1 \
        --label "convvit_n"        # adds seeds to a row with this label, data and epochs
    python benchmarks/medmnist_summary.py table > table.md
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import md_table, mean_std, plus_minus

from hybridnets.atomic import atomic_write_text
from hybridnets.engine.selection import selected_index

RESULTS = Path(__file__).parent / "results" / "medmnist.json"
SPLIT_METRICS = ("acc", "auc", "balanced_acc", "acc_threshold")
PROBES = ("logreg", "linear_svc")


def run_entry(folder: Path, select: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The per-run record kept in the JSON, and the run's config.

    With ``select`` naming a selector other than the run's, the record holds the val and test
    metrics of the epoch ``select`` picks in the run's history (needs ``--log-test``; training
    does not depend on the selector without early stopping, so this is what a run with
    ``--select select`` reports, but for the threshold-tuned ACC, which is left out).
    """
    result = json.loads((folder / "result.json").read_text())
    if select is not None and select != result["config"]["select"]:
        result = _reselected(result, select, folder)
    entry = {
        "run": folder.name,
        "test": result["test"],
        "val": result["val"],
        "threshold": result["threshold"],
        "wall_time_s": result["wall_time_s"],
        "best_epoch": result["best_epoch"],
        "params": result["params"],
    }
    if "reselected" in result:
        entry["reselected"] = result["reselected"]
    probe = folder / "probe.json"
    if probe.is_file():
        entry["probe"] = {
            name: {k: v for k, v in r.items() if k != "runs"}
            for name, r in json.loads(probe.read_text())["results"].items()
        }
    return entry, result["config"] | {"data_name": result["data"]}


def _reselected(result: dict[str, Any], select: str, folder: Path) -> dict[str, Any]:
    history = result["history"]
    if result["config"].get("patience") is not None or "test_auc" not in history[0]:
        raise ValueError(f"{folder}: re-selecting needs --log-test and no --patience")
    chosen = history[selected_index(select, history)]
    split = {s: {m: chosen[f"{s}_{m}"] for m in ("acc", "auc")} for s in ("val", "test")}
    reselected = {"best_epoch": chosen["epoch"], "threshold": None, "reselected": select}
    return result | split | reselected


def summarise(row: dict[str, Any]) -> dict[str, Any]:
    """Fill a row's aggregate fields from its ``runs``."""
    runs = row["runs"]
    row["wall_time_s"] = [round(r["wall_time_s"]) for r in runs]
    row["best_epoch"] = [r.get("best_epoch") for r in runs]
    for split in ("val", "test"):
        for metric in SPLIT_METRICS:
            if all(metric in r[split] for r in runs):  # acc_threshold: binary tasks only
                row[f"{split}_{metric}"] = mean_std([r[split][metric] for r in runs])
    for name in PROBES:
        if all(name in r.get("probe", {}) for r in runs):
            for metric, key in (("acc", "test_acc"), ("f1", "test_f1_macro")):
                row[f"probe_{name}_{metric}"] = mean_std([r["probe"][name][key] for r in runs])
    return row


def add(
    folders: Sequence[Path], label: str, path: Path = RESULTS, select: str | None = None
) -> dict[str, Any]:
    """Add runs (seeds of one setting) to the row with ``label``, data and epochs, or a new row
    (``select``: see :func:`run_entry`)."""
    rows = json.loads(path.read_text()) if path.is_file() else []
    entries, configs = zip(*(run_entry(f, select) for f in folders))
    data, epochs = configs[0]["data_name"], configs[0]["epochs"]
    if any((c["data_name"], c["epochs"]) != (data, epochs) for c in configs):
        raise ValueError("runs of one row must share data and epochs")
    row = next(
        (r for r in rows if (r["data"], r["model"], r["epochs"]) == (data, label, epochs)), None
    )
    if row is None:
        row = {"data": data, "model": label, "epochs": epochs, "runs": []}
        rows.append(row)
    for i, old in enumerate(row["runs"]):  # rows written before runs kept their best epoch
        old.setdefault("best_epoch", row.get("best_epoch", [None] * (i + 1))[i])
    seeds = {c["seed"]: e for c, e in zip(configs, entries)}
    kept = [r for r, s in zip(row["runs"], row.get("seeds", [])) if s not in seeds]
    kept_seeds = [s for s in row.get("seeds", []) if s not in seeds]
    row["runs"], row["seeds"] = kept + list(seeds.values()), kept_seeds + list(seeds)
    row["params_M"] = entries[0]["params"] / 1e6
    summarise(row)
    rows.sort(key=lambda r: (r["data"], r["model"], r["epochs"]))
    atomic_write_text(path, json.dumps(rows, indent=1) + "\n")
    return row


def _cell(row: dict[str, Any], key: str) -> str:
    return plus_minus(row[key]) if key in row else "–"


def table(path: Path = RESULTS) -> str:
    """The Markdown results table of every row."""
    head = ["data", "model", "params", "epochs", "seeds", "test ACC (argmax)",
            "test ACC (val threshold)", "test AUC", "val AUC", "probe ACC logreg",
            "probe ACC LinearSVC", "wall time per seed (s)"]  # fmt: skip
    keys = ("test_acc", "test_acc_threshold", "test_auc", "val_auc", "probe_logreg_acc",
            "probe_linear_svc_acc")  # fmt: skip
    rows = [
        [row["data"], row["model"], f"{row['params_M']:.2f}M", row["epochs"], len(row["seeds"]),
         *(_cell(row, key) for key in keys), ", ".join(str(t) for t in row["wall_time_s"])]
        for row in json.loads(path.read_text())
    ]  # fmt: skip
    return md_table(head, rows)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("add", help="add run folders (seeds of one setting) as one row")
    a.add_argument("runs", nargs="+", type=Path)
    a.add_argument("--label", required=True, help="model column, e.g. 'convvit_n'")
    for s in (a, sub.add_parser("table", help="print the Markdown table")):
        s.add_argument("--json", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.command == "add":
        row = add(args.runs, args.label, args.json)
        print(
            f"{row['data']} {row['model']} ({len(row['seeds'])} seeds): test AUC {_cell(row, 'test_auc')}"
        )
    else:
        print(table(args.json))


if __name__ == "__main__":
    main()
