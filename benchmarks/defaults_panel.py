"""The development panel of issue 32: every task on which a default was measured against the one
before it, for ours and the ResNet-18 baseline, judged by the worst task and leave-one-task-out.

    python benchmarks/defaults_panel.py    # reads benchmarks/results, writes panel.json and .md

Nothing is run here: the rows come from the results files of ``small_data.py compare``
(``auto_epochs.json``) and ``fusion_ham10000.py summary`` (``ham10000_500_epochs*.json``,
``fusion_fallback*.json``, ``fusion_64_500.json``, ``ham10000_64_500*.json``),
``small_data.py summary`` (``medpix_region_64.json``, ``pneumonia_400_64.json``,
``adrenal3d_64.json``, ``mixup.json``, ``intensity.json``) and ``tta_flip.py``
(``tta_flip.json``); a file that is absent leaves its tasks out.

For each default, per task and model, Δ = new − old of the test means, and its standard error
``se = sqrt(s_old² / n_old + s_new² / n_new)`` from the seeds' standard deviations; Δ < −2 se
is a *loss*, Δ > 2 se a *gain*, anything between is within noise. Leave-one-task-out: for each
task, the rule is chosen on the other tasks alone (the new default if it has no loss there, by
any model and metric, and a positive mean Δ), and the held-out task shows what that choice does
to data it was not chosen on.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from _common import RESULTS, md_table

from hybridnets.atomic import atomic_write_text

NOISE = 2.0  # a loss or gain is a difference beyond this many standard errors
EPOCH_METRICS = ("acc", "auc", "balanced_acc")  # what the epochs rows keep (judged: acc, auc)


def _metrics(arm: dict[str, Any], metrics: Sequence[str]) -> dict[str, Any]:
    return {m: arm.get(m) for m in metrics} | {"seeds": len(arm["seeds"])}


def epochs_tasks(results: Path, arm: str = "derived") -> list[dict[str, Any]]:
    """Fixed epochs (old) vs epochs derived from the training-set size (new): the shipped rule
    (``arm="derived"``, 50,000 samples) or the candidate of 25,000 (``"derived_25k"``)."""
    rows = []
    for r in _read(results, "auto_epochs.json") or []:
        if arm in r:
            rows.append({"task": r["setting"], "model": r["model"],
                         "old": _metrics(r["fixed"], EPOCH_METRICS),
                         "new": _metrics(r[arm], EPOCH_METRICS)})  # fmt: skip
    suffix = {"derived": "_derived", "derived_25k": "_25k"}[arm]
    old, new = (_read(results, f"ham10000_500_epochs{s}.json") for s in ("30", suffix))
    for arm in ("convvit_n", "resnet18"):
        pair = [next((r for r in rows_ or [] if r["arm"] == arm), None) for rows_ in (old, new)]
        if all(pair):
            rows.append({"task": "ham10000_500 (28², 7 classes)", "model": arm,
                         "old": _metrics(pair[0], EPOCH_METRICS),
                         "new": _metrics(pair[1], EPOCH_METRICS)})  # fmt: skip
    return rows


def fusion_tasks(results: Path) -> list[dict[str, Any]]:
    """The fusion before issue 32 (``~always``; not run at 64²) vs the shipped fallback, with
    true and with shuffled clinical columns; image-only beside each as the level fusion must
    keep."""
    rows = []
    for name, size in (("fusion_fallback.json", "2,000 images"),
                       ("fusion_fallback_400.json", "400 images"),
                       ("fusion_64_500.json", "500 images at 64²")):  # fmt: skip
        arms = {r["arm"]: r for r in _read(results, name) or []}
        for table, suffix in (("true", ""), ("shuffled", "~shuffled")):
            old, new = (
                arms.get(f"convvit_n+cross~always{suffix}"),
                arms.get(f"convvit_n+cross{suffix}"),
            )
            if new and "convvit_n" in arms:
                metrics = ("balanced_acc", "auc", "acc")
                rows.append({"task": f"ham10000 {size}, {table} table",
                             "model": "convvit_n+cross",
                             "old": _metrics(old, metrics) if old else None,
                             "new": _metrics(new, metrics),
                             "reference": _metrics(arms["convvit_n"], metrics)})  # fmt: skip
    return rows


def tta_tasks(results: Path) -> list[dict[str, Any]]:
    """Each finished run's kept weights scored without (old) and with flip TTA (new; the
    default ``--tta auto`` when training augments), from ``tta_flip.py``."""
    rows = []
    for r in _read(results, "tta_flip.json") or []:
        sides = ({m: r[m][side] for m in EPOCH_METRICS} | {"seeds": len(r["seeds"])}
                 for side in ("none", "flip"))  # fmt: skip
        rows.append({"task": r["task"], "model": r["model"], **dict(zip(("old", "new"), sides))})
    return rows


def _small_data(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A ``small_data.py summary`` row in the panel's terms (test ACC, AUC and, where the
    summary holds it, balanced accuracy)."""
    if row is None:
        return None
    found = {m: row.get(f"test_{m}") for m in EPOCH_METRICS}
    return found | {"seeds": len(row["seeds"])}


def option_tasks(results: Path, option: str, files: Sequence[str]) -> list[dict[str, Any]]:
    """Each model without (old) and with one training option (new), the rest of the recipe
    alike, from ``small_data.py summary`` files: ``label [setting]`` against ``label (option)
    [setting]``, or ``label (option, no TTA)`` where the label is ``label (no TTA)``. The first
    file holding a label wins, so an option's file can pair with the runs of another file."""
    found: dict[str, dict] = {}
    for name in files:
        for row in _read(results, name) or []:
            found.setdefault(row["model"], row)
    rows = []
    for key, row in found.items():
        label, setting = key.rsplit(" [", 1)
        setting = setting.rstrip("]")
        base, no_tta = label.removesuffix(" (no TTA)"), label.endswith(" (no TTA)")
        if "(" in base:  # an arm itself, or another variant of the model
            continue
        arm = f"{base} ({option}, no TTA)" if no_tta else f"{base} ({option})"
        new = found.get(f"{arm} [{setting}]")
        if new is not None:
            rows.append({"task": setting, "model": base,
                         "old": _small_data(row), "new": _small_data(new)})  # fmt: skip
    return rows


def stem_tasks(results: Path) -> list[dict[str, Any]]:
    """``convvit_n``'s 28-px stem (stride 2) at every size (old) vs the stem that follows the
    input size (stride 4 from 56 px, new) on the 64² and 64³ tasks; the baseline of each task
    beside it (its own stem is unchanged), as the level to reach."""
    rows = []
    for file, setting, task, baseline in (
        ("medpix_region_64.json", "medpix_region_300", "64², 5 classes", "resnet18"),
        ("pneumonia_400_64.json", "pneumonia_400_64", "28² resized to 64², 2 classes, 15 epochs",
         "resnet18"),
        ("adrenal3d_64.json", "adrenal3d_64_300", "64³, 2 classes", "monai_resnet18"),
    ):  # fmt: skip
        found = {r["model"]: r for r in _read(results, file) or []}
        old, new, ref = (f"{label} [{setting}]" for label in (
            "convvit_n (stem stride 2)", "convvit_n", baseline))  # fmt: skip
        if new in found and ref in found:
            rows.append({"task": f"{setting} ({task})", "model": "convvit_n",
                         "old": _small_data(found.get(old)), "new": _small_data(found[new]),
                         "reference": _small_data(found[ref])})  # fmt: skip
    old, new = (_read(results, f"ham10000_64_500{s}.json") for s in ("", "_stem4"))
    arms = {r["arm"]: r for r in old or []}
    new_arm = next((r for r in new or [] if r["arm"] == "convvit_n"), None)
    if new_arm and "convvit_n" in arms and "resnet18" in arms:
        rows.append({"task": "ham10000_500 (64², 7 classes)", "model": "convvit_n",
                     "old": _metrics(arms["convvit_n"], EPOCH_METRICS),
                     "new": _metrics(new_arm, EPOCH_METRICS),
                     "reference": _metrics(arms["resnet18"], EPOCH_METRICS)})  # fmt: skip
    return rows


# default -> (what it is, where its tasks come from, the metrics it is judged on, what the
# rows' reference is: the level the new default is also held against, or None)
DEFAULTS = {
    "epochs": ("epochs derived from the training-set size (50,000 samples, 10–100) vs the fixed "
               "epochs of before", epochs_tasks, ("acc", "auc"), None),
    "epochs_25k": ("the candidate rule of 25,000 samples (10–100 epochs) vs the fixed epochs "
                   "of before", partial(epochs_tasks, arm="derived_25k"), ("acc", "auc"), None),
    "fusion": ("fusion that keeps the table only where it helps on validation vs the fusion of "
               "before (table always)", fusion_tasks, ("balanced_acc", "auc", "acc"),
               "image-only"),
    "tta": ("flip test-time augmentation (tta auto: flip when training augments) vs none, "
            "on each run's kept weights", tta_tasks, ("acc", "auc"), None),
    "mixup": ("mixup with Beta(0.2, 0.2) vs none (settings run without TTA pair with the runs "
              "recorded before it)", partial(option_tasks, option="mixup 0.2",
                                             files=("mixup.json",)), EPOCH_METRICS, None),
    "intensity": ("random contrast and brightness of ±0.2 after the flips and warp vs none (the "
                  "runs without it are mixup.json's)", partial(option_tasks, option="intensity 0.2",
                  files=("intensity.json", "mixup.json")), EPOCH_METRICS, None),
    "stem": ("convvit_n's stem following the input size (stride 4 from 56 px) vs the 28-px stem "
             "(stride 2) at every size; at 28 px nothing changes", stem_tasks, ("acc", "auc"),
             "the baseline"),
}  # fmt: skip


def _read(results: Path, name: str) -> Any | None:
    path = results / name
    return json.loads(path.read_text()) if path.is_file() else None


def delta(
    old: list[float] | None, new: list[float] | None, n_old: int | None, n_new: int | None
) -> dict:
    """Δ = new − old of the means and its standard error (None where a side is missing); a
    single seed contributes no spread."""
    if not old or not new or not n_old or not n_new:
        return {"delta": None, "se": None, "verdict": "not measured", "text": "-"}
    d = new[0] - old[0]
    se = math.sqrt(old[1] ** 2 / n_old + new[1] ** 2 / n_new)
    verdict = "loss" if d < -NOISE * se else "gain" if d > NOISE * se else "within noise"
    text = f"{d * 100:+.1f} ± {se * 100:.1f} ({verdict})"  # in points, as the pages show it
    return {"delta": d, "se": se, "verdict": verdict, "text": text}


def judge(rows: list[dict[str, Any]], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Each row with its seeds (old / new), Δ, se and verdict per metric (``delta``), and
    against its reference where it has one (``vs_reference``)."""
    for row in rows:
        row["seeds"] = f"{(row['old'] or {}).get('seeds', 0)} / {row['new']['seeds']}"
        row["delta"] = {m: _delta(row["old"], row["new"], m) for m in metrics}
        if "reference" in row:
            row["vs_reference"] = {m: _delta(row["reference"], row["new"], m) for m in metrics}
    return rows


def _delta(old: dict[str, Any] | None, new: dict[str, Any], m: str) -> dict:
    old = old or {m: None, "seeds": None}
    return delta(old[m], new[m], old["seeds"], new["seeds"])


def choose(rows: list[dict[str, Any]], metrics: Sequence[str]) -> bool:
    """Whether the new default is chosen on ``rows``: no loss by any model and metric, and a
    positive mean Δ."""
    deltas = [
        row["delta"][m] for row in rows for m in metrics if row["delta"][m]["delta"] is not None
    ]
    if not deltas or any(d["verdict"] == "loss" for d in deltas):
        return False
    return statistics.fmean(d["delta"] for d in deltas) > 0


def leave_one_task_out(rows: list[dict[str, Any]], metrics: Sequence[str]) -> list[dict]:
    """Per task: the choice made on the other tasks, and the held-out task's Δ under it."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        others = [r for r in rows if r["task"] != task]
        chosen = choose(others, metrics) if others else None
        held = {r["model"]: {m: r["delta"][m] for m in metrics} for r in rows if r["task"] == task}
        out.append({"held_out": task, "chosen_new": chosen, "held_out_delta": held})
    return out


def worst(rows: list[dict[str, Any]], metrics: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per model: the task and metric with the lowest Δ."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        for m in metrics:
            d = row["delta"][m]["delta"]
            if d is not None and (row["model"] not in out or d < out[row["model"]]["delta"]):
                out[row["model"]] = {"task": row["task"], "metric": m, "delta": d,
                                     "verdict": row["delta"][m]["verdict"]}  # fmt: skip
    return out


def panel(results: Path = RESULTS) -> dict[str, Any]:
    out = {}
    for name, (what, tasks, metrics, reference) in DEFAULTS.items():
        rows = judge(tasks(results), metrics)
        out[name] = {"what": what, "metrics": list(metrics), "rows": rows, "reference": reference,
                     "all_tasks_choose_new": choose(rows, metrics), "worst": worst(rows, metrics),
                     "leave_one_task_out": leave_one_task_out(rows, metrics)}  # fmt: skip
    return out


def _cell(arm: dict[str, Any] | None, m: str) -> str:
    return "-" if arm is None or arm[m] is None else f"{arm[m][0]:.3f} ± {arm[m][1]:.3f}"


def markdown(data: dict[str, Any]) -> str:
    parts = ["# Development panel: each default against the one before it (issue 32)\n",
             __doc__.split("\n\n", 2)[2].strip() + " Δ and se in points (×100).\n"]  # fmt: skip
    for name, d in data.items():
        metrics = d["metrics"]
        head = ["task", "model", "seeds old / new",
                *(f"{m} old → new" for m in metrics), *(f"Δ {m}" for m in metrics)]  # fmt: skip
        cells = [[r["task"], r["model"], r["seeds"],
                  *(f"{_cell(r['old'], m)} → {_cell(r['new'], m)}" for m in metrics),
                  *(r["delta"][m]["text"] for m in metrics)] for r in d["rows"]]  # fmt: skip
        parts.append(f"## {name}: {d['what']}\n\n" + md_table(head, cells) + "\n")
        if d["reference"] and d["rows"]:
            parts.append(f"New default against {d['reference']}:\n\n" + md_table(
                ["task", f"{d['reference']}: " + " / ".join(metrics),
                 *(f"Δ {m} vs {d['reference']}" for m in metrics)],
                [[r["task"], " / ".join(_cell(r["reference"], m) for m in metrics),
                  *(r["vs_reference"][m]["text"] for m in metrics)] for r in d["rows"]]) + "\n")  # fmt: skip
        worst_lines = [f"- {model}: {w['task']}, {w['metric']} {w['delta'] * 100:+.1f} "
                       f"({w['verdict']})" for model, w in d["worst"].items()]  # fmt: skip
        parts.append("Worst task per model:\n\n" + "\n".join(worst_lines) + "\n")
        loto = [[r["held_out"], "new" if r["chosen_new"] else "old",
                 "; ".join(f"{model}: " + ", ".join(f"{m} {v['text']}" for m, v in ds.items())
                           for model, ds in r["held_out_delta"].items())]
                for r in d["leave_one_task_out"]]  # fmt: skip
        parts.append("Leave one task out (the rule chosen on the other tasks; the held-out "
                     "task's Δ of the new default):\n\n"
                     + md_table(["held-out task", "chosen", "held-out Δ"], loto) + "\n")  # fmt: skip
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="results folder (read)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where panel.json/.md go")
    args = parser.parse_args(argv)
    data = panel(args.results)
    atomic_write_text(args.out / "panel.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(args.out / "panel.md", markdown(data))
    print(args.out / "panel.md")


if __name__ == "__main__":
    main()
