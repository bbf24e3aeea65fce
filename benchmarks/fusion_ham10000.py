"""HAM10000 image + clinical-data benchmark: metadata-only logistic regression, image-only
models and the three fusions, on the same grouped splits.

Every neural run is a ``TrainConfig`` on a table that points at the dataset's images (written
under the runs folder; the images are never copied), run by ``python -m hybridnets.train
--config`` in a process of its own, its config file and log beside its result; finished runs
(``result.json`` present) are not run again, so an interrupted sweep resumes, and sweeps
started side by side (``--seeds 0,1`` and ``--seeds 2``) skip a run whose log another one is
writing. The split is the recipe's own grouped (``lesion_id``), label-stratified 70/15/15
split drawn with the run's seed, so every model of one seed sees the same rows; the logistic
regression uses that split too (fit on train, scored on test):

    python benchmarks/fusion_ham10000.py run --seeds 0,1,2 --input-size 64 --epochs 12 \\
        --max-train-samples 2000
    python benchmarks/fusion_ham10000.py run --extra "--class-balance none --label-smoothing 0"
    python benchmarks/fusion_ham10000.py summary   # benchmarks/results/fusion_ham10000.{json,md}

Arms (``--arms``): ``logreg`` (age, sex, site; one-hot, class-balanced), ``<model>`` (image
only) and ``<model>+late|cross|coattn`` (image fused with age, sex and site), each fusion arm
optionally qualified: ``~always`` keeps the table in every sample and the saved model (no
fallback: the recipe before issue 32), ``~dropout`` trains a quarter of the samples without
their table (``--table-dropout 0.25``), ``~shuffled`` reads a copy of the
table whose clinical columns are permuted across rows (seed 0; each row keeps a real
age-sex-site triple, no longer its own), where the table cannot help:

    python benchmarks/fusion_ham10000.py run --input-size 28 \
        --arms convvit_n,convvit_n+cross,convvit_n+cross~always,convvit_n+cross~shuffled ``dx_type`` is
never an input: it leaks the label. ``--extra`` takes more recipe options as
``python -m hybridnets.train`` would (default ``--class-balance loss``), parsed once by the
recipe's own parser and applied last.

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
    ham10000_dir,
    md_table,
    mean_std,
    plus_minus,
    recipe_options,
    run_recipe,
    sweep_main,
    sweep_parser,
    write_summary,
)

from hybridnets.atomic import atomic_write_text
from hybridnets.data.ham10000 import HAM10000_CLINICAL, write_ham10000_table
from hybridnets.train import TrainConfig

_logger = logging.getLogger("fusion_ham10000")
CLINICAL = HAM10000_CLINICAL
DEFAULT_ARMS = "logreg,resnet18,convvit_n,convvit_n+late,convvit_n+cross,convvit_n+coattn"
METRICS = ("balanced_acc", "auc", "acc")


def write_table(data: Path, out: Path) -> Path:
    """``out`` = the recipe's table (image path, dx, age, sex, site, lesion_id)."""
    return write_ham10000_table(data, out)


QUALIFIERS = ("always", "dropout", "shuffled")
SHUFFLED = "ham10000_shuffled.csv"


def shuffled_table(table: Path, out: Path, seed: int = 0) -> Path:
    """``out``: ``table`` with its clinical columns moved together to a random other row."""
    lines = table.read_text().splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
    columns = [header.index(c) for c in CLINICAL]
    order = np.random.default_rng(seed).permutation(len(rows))
    shuffled = [list(r) for r in rows]
    for row, source in zip(shuffled, order):
        for c in columns:
            row[c] = rows[source][c]
    text = "\n".join(",".join(r) for r in [header, *shuffled]) + "\n"
    return atomic_write_text(out, text)


def run_folder(runs: Path, arm: str, seed: int) -> Path:
    return runs / f"{arm.replace('+', '_').replace('~', '_')}__s{seed}"


def config(arm: str, seed: int, args: argparse.Namespace, table: Path) -> TrainConfig:
    """The recipe's config of one image or fusion arm (``args.extra`` applied last); a
    ``~shuffled`` arm reads :data:`SHUFFLED` beside ``table``."""
    base, *qualifiers = arm.split("~")
    unknown = set(qualifiers) - set(QUALIFIERS)
    model, _, fusion = base.partition("+")
    if unknown or (qualifiers and not fusion):
        raise ValueError(f"{arm}: qualifiers {QUALIFIERS} go after a fusion arm")
    if "shuffled" in qualifiers:
        table = table.with_name(SHUFFLED)
    settings: dict[str, Any] = {
        "model": model,
        "data": str(table),
        "image_col": "image_path",
        "label_col": "dx",
        "group_col": "lesion_id",
        "allow_outside_paths": True,  # the table points into the dataset's own folder
        "input_size": args.input_size,
        "epochs": args.epochs,
        "seed": seed,
        "max_train_samples": args.max_train_samples or None,
        "out_dir": str(run_folder(args.runs, arm, seed)),
        "num_threads": 1,
        "progress": False,
    }
    if fusion:
        settings |= {"tabular": ",".join(CLINICAL), "fusion": fusion}
    if "always" in qualifiers:
        settings |= {"table_dropout": 0.0, "table_fallback": False}
    if "dropout" in qualifiers:
        settings |= {"table_dropout": 0.25}
    return TrainConfig(**settings | args.extra)


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
    data = ham10000_dir()
    if not (data / "HAM10000_metadata_ext.csv").is_file():
        _logger.warning("skipping: no HAM10000 at %s (set HAM10000_DIR)", data)
        return 0
    table = write_table(data, args.runs / "ham10000.csv")
    if any("shuffled" in arm for arm in args.arms):
        shuffled_table(table, table.with_name(SHUFFLED))
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
            run_recipe(config(arm, seed, args, table), folder / "train.log")
    return 0


def arm_of(result: dict[str, Any]) -> str:
    """``logreg``, ``<model>`` or ``<model>+<fusion>[~always][~shuffled]`` from a result.json
    (a run from before issue 32, without ``table_fallback``, kept its table: ``~always``)."""
    config = result["config"]
    if result.get("arm") == "logreg":
        return "logreg"
    if not config.get("tabular"):
        return result["model"]
    arm = f"{result['model']}+{config['fusion']}"
    if not config.get("table_fallback", False):
        arm += "~always"
    if config.get("table_dropout", 0.0) > 0:
        arm += "~dropout"
    return arm + ("~shuffled" if Path(config.get("data", "")).name == SHUFFLED else "")


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
        row[name] = mean_std(r["test"][name] for r in results)
    row["table_used"] = [r.get("table_used") for r in results]
    return row


def table_md(rows: Sequence[dict[str, Any]]) -> str:
    head = ["arm", "params", "train rows", "seeds", "balanced acc", "macro AUC", "ACC",
            "table kept", "wall s"]  # fmt: skip
    cells = []
    for r in rows:
        params = f"{r['params_M']:.2f}M" if r["params_M"] >= 0.01 else f"{r['params_M'] * 1e6:.0f}"
        used = [u for u in r.get("table_used", []) if u is not None]
        kept = f"{sum(used)} of {len(used)}" if used else ""
        cells.append([r["arm"], params, r["train_samples"], len(r["seeds"]),
                      *(plus_minus(r[m]) for m in METRICS), kept, f"{r['wall_time_s']:.0f}"])  # fmt: skip
    return md_table(head, cells)


def summary(runs: Path, out: Path = RESULTS, name: str = "fusion_ham10000") -> Path | None:
    """``<name>.json`` and ``.md`` (mean ± std over seeds) from the finished runs."""
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
        "dx_type). Fusion arms keep the table only where it helps on validation (fallback "
        "to the image path; 'table kept' counts the seeds that kept it); ~dropout: a quarter "
        "of the training samples without their table; ~always: the table in every sample "
        "and the saved model, as before issue 32; "
        "~shuffled: clinical columns permuted across rows (no signal). Commands: `python "
        "benchmarks/fusion_ham10000.py run ...` (each run's settings are in its result.json "
        "config and run_config.json). CPU, fp32, one thread per run, two runs sharing two "
        "cores (wall times inflated)."
    )
    return write_summary(out, name, rows, note, table_md(rows))


def build_parser() -> argparse.ArgumentParser:
    """The sweep's options (``--extra`` already parsed into config fields)."""
    p = sweep_parser(__doc__.split("\n\n")[0], "runs/fusion_ham10000")
    p.add_argument(
        "--arms",
        default=DEFAULT_ARMS,
        type=lambda s: s.split(","),
        help=f"logreg, <model> or <model>+late|cross|coattn, a fusion arm optionally followed "
        f"by ~always (table in every sample, no fallback), ~dropout (table dropout 0.25) and/or "
        f"~shuffled (clinical columns permuted across rows); comma-separated (default: "
        f"{DEFAULT_ARMS})",
    )
    p.add_argument(
        "--name",
        default="fusion_ham10000",
        help="summary: the results' file name, <out>/<name>.json and .md (default: "
        "fusion_ham10000)",
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
        type=recipe_options(TrainConfig),
        help="more options of python -m hybridnets.train, quoted, parsed by its parser and "
        "applied last (default: '--class-balance loss'; '' for the recipe's defaults)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    name = parser.parse_known_args(argv)[0].name
    return sweep_main(parser, argv, run, lambda runs, out: summary(runs, out, name))


if __name__ == "__main__":
    sys.exit(main())
