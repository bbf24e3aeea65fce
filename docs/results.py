"""Generate the site's results pages from ``benchmarks/results/*.json``.

    python docs/results.py [--results benchmarks/results] [--out docs/src/results]

Every table and plot on the results pages is computed here from the benchmark scripts' JSON
files, never copied by hand: re-run a benchmark, rebuild the site, and the pages follow. A JSON
file that is absent is reported on its page as not measured yet. ``make docs`` (through the
MkDocs hook ``docs/hooks.py``) runs this before every build.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "docs" / "src" / "results"

PUBLISHED = {  # MedMNIST v2 (Yang et al., Scientific Data 2023), test ACC / AUC
    "PneumoniaMNIST": {
        "ResNet-18 (28)": (0.854, 0.944),
        "ResNet-50 (224)": (0.884, 0.962),
        "AutoML Vision": (0.946, 0.991),
    },
    "RetinaMNIST": {"ResNet-18 (28)": (0.524, 0.717), "AutoML Vision": (0.531, 0.750)},
    "AdrenalMNIST3D": {
        "ResNet-18 + 3D": (0.721, 0.827),
        "ResNet-18 + ACS": (0.754, 0.839),
        "auto-sklearn": (0.802, 0.828),
    },
}
"""Published rows shown beside ours (the MedMNIST v2 paper's table)."""


def cell(value: Any) -> str:
    """A table cell: ``[mean, std]`` as ``mean ± std``, floats to 3 decimals, None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"{value[0]:.3f} ± {value[1]:.3f}"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value).replace("|", "\\|")


def mean_of(value: Any) -> float | None:
    """The mean of a ``[mean, std]`` pair, a number as it is, None otherwise."""
    if isinstance(value, list) and value and isinstance(value[0], (int, float)):
        return float(value[0])
    return float(value) if isinstance(value, (int, float)) else None


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A Markdown table of ``rows`` with ``(key, header)`` columns."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines += ["| " + " | ".join(cell(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def save_plot(fig: Any, out: Path, name: str) -> str:
    """Write ``fig`` as ``out/name`` (PNG) and return the Markdown that shows it."""
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return f"![{name}]({name})\n"


def read(results: Path, name: str) -> Any | None:
    path = results / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def missing(name: str) -> str:
    return f"Not measured yet: `benchmarks/results/{name}` is absent.\n"


def source(name: str, script: str) -> str:
    return f"From `benchmarks/results/{name}`, written by `benchmarks/{script}`.\n\n"


def small_data_page(rows: Any, results: Path, out: Path) -> str:
    """MedMNIST under the default recipe: ours vs the ResNet-18 baselines, AUC vs parameters."""
    text = (
        "From scratch at the native 28² / 28³, the recipe's defaults for every model, 2-core "
        "CPU, one thread per run, test split, mean ± std over the seeds.\n\n"
    )
    for r in rows:
        r["setting"] = r["model"].split("[", 1)[-1].rstrip("]")
        r["name"] = r["model"].split(" [", 1)[0]
    cols = [("setting", "setting"), ("name", "model"), ("epochs", "epochs")]
    cols += [("params_M", "params (M)"), ("test_acc", "test ACC"), ("test_auc", "test AUC")]
    cols += [("val_auc", "val AUC")]
    text += table(rows, cols)
    text += "\nPublished MedMNIST v2 rows (test ACC / AUC):\n\n"
    pub = [
        {"data": d, "model": m, "acc": a, "auc": u}
        for d, models in PUBLISHED.items()
        for m, (a, u) in models.items()
    ]
    text += table(pub, [("data", "data"), ("model", "model"), ("acc", "ACC"), ("auc", "AUC")])
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for setting in sorted({r["setting"] for r in rows}):
        mine = [r for r in rows if r["setting"] == setting]
        ax.plot(
            [r["params_M"] for r in mine],
            [mean_of(r["test_auc"]) for r in mine],
            "o-",
            label=setting,
        )
        for r in mine:
            ax.annotate(r["name"], (r["params_M"], mean_of(r["test_auc"])), fontsize=7)
    ax.set(xscale="log", xlabel="parameters (M)", ylabel="test AUC", title="AUC vs parameters")
    ax.legend(fontsize=7)
    text += "\n" + save_plot(fig, out, "auc_vs_params.png")
    return text + _sweeps(results) + _auto_epochs(results)


def _section(results: Path, name: str, title: str, script: str) -> tuple[Any, str]:
    """The data of ``results/<name>`` and a section's heading and source line (None and ""
    when the file is absent)."""
    data = read(results, name)
    return (None, "") if data is None else (data, f"\n## {title}\n\n" + source(name, script))


# small_data.py sweeps of their own: results file -> (heading, what the runs are)
SWEEPS = {
    "medpix_region_64.json": (
        "MedPix 2.0 body region at 64²",
        "5 classes (CT and MR), 300 training labels, the dataset's own case-disjoint split "
        "(197 validation, 200 test images), letterboxed grey-scale 64², the recipe's defaults "
        "(`convvit_n`'s stem strides 4 from 56 px; `stem stride 2`: the 28-px stem); `_auto`: "
        "the derived epochs.",
    ),
    "pneumonia_400_64.json": (
        "PneumoniaMNIST resized to 64²",
        "The hidden chest X-ray table's command (`--resize 64`, 15 epochs, 400 training images, "
        "2 classes about 3 : 1) on PneumoniaMNIST's 28² images resized to 64², the recipe's "
        "defaults (`convvit_n`'s stem strides 4 from 56 px; `stem stride 2`: the 28-px stem).",
    ),
    "adrenal3d_64.json": (
        "AdrenalMNIST3D at 64³",
        "300 training volumes, 10 epochs (the hidden 3D set's command), the recipe's defaults "
        "(`convvit_n`'s stem strides 4 from 56³); MONAI's ResNet-18 with `conv1_t_stride 2`.",
    ),
    "adrenal3d_11pct_auto.json": (
        "AdrenalMNIST3D 28³ with 11 % positives, today's defaults",
        "The stand-in for the hidden 3D set (positives cut to 11 %), 10 epochs (its command), "
        "every default of the recipe as shipped (flip test-time augmentation included); wall "
        "times inflated: up to four runs shared the two cores.",
    ),
    "mixup.json": (
        "Mixup against none",
        "Each model with and without `--mixup 0.2` (Beta(0.2, 0.2)), everything else alike; "
        "`no TTA` rows pair with the runs recorded before flip test-time augmentation was the "
        "default (RetinaMNIST all 1,080 labels, 47 epochs; PneumoniaMNIST 500 labels with 78 "
        "validation images, 100 epochs), the others run every default as shipped. Runs: "
        "`small_data.py run --settings retina_auto,pneumonia_500_val78_auto,"
        "medpix_region_300_auto --models 'convvit_n (mixup 0.2, no TTA),resnet18 (mixup 0.2, "
        "no TTA)'` and `--settings pneumonia_400_64,adrenal3d_11pct --models 'convvit_n (mixup "
        "0.2),resnet18 (mixup 0.2),monai_resnet18 (mixup 0.2)'`, seeds 0–2.",
    ),
    "intensity.json": (
        "Random contrast and brightness",
        "Each model with `--intensity 0.2` (contrast and brightness of ±0.2 after the flips and "
        "warp), everything else alike; the same models without it are the rows of [Mixup "
        "against none](#mixup-against-none) that carry no mixup (`no TTA` rows pair with the "
        "runs recorded before flip test-time augmentation was the default). Runs: "
        "`small_data.py run --settings retina_auto,pneumonia_500_val78_auto --models "
        "'convvit_n (intensity 0.2, no TTA),resnet18 (intensity 0.2, no TTA)'` and `--settings "
        "pneumonia_400_64,adrenal3d_11pct --models 'convvit_n (intensity 0.2),resnet18 "
        "(intensity 0.2),monai_resnet18 (intensity 0.2)'`, seeds 0–2; stopped for time before "
        "MONAI's ResNet-18 in 3D. Wall times inflated: up to four runs, a test suite and a "
        "package install shared the two cores.",
    ),
}


def _sweeps(results: Path) -> str:
    """The small-data sweeps beyond ``small_data.json``, one section each."""
    text = ""
    for name, (title, about) in SWEEPS.items():
        script = f"small_data.py summary --name {name.removesuffix('.json')}"
        rows, head = _section(results, name, title, script)
        if rows is None:
            continue
        cols = [("model", "model [setting]"), ("epochs", "epochs"), ("params_M", "params (M)")]
        cols += [("test_acc", "test ACC"), ("test_auc", "test AUC")]
        if all("test_balanced_acc" in r for r in rows):
            cols.append(("test_balanced_acc", "test balanced acc"))
        cols.append(("wall_time_s", "wall s"))
        text += head + about + "\n\n" + table(rows, cols)
    return text


def _auto_epochs(results: Path) -> str:
    """Fixed epochs vs the epochs the recipe derives from the training-set size."""
    rows, text = _section(
        results, "auto_epochs.json", "Epochs from the training-set size", "small_data.py"
    )
    if rows is None:
        return ""
    flat = [
        {"setting": r["setting"], "model": r["model"], "arm": arm} | r[arm]
        for r in rows
        for arm in ("fixed", "derived", "derived_25k")
        if arm in r
    ]
    cols = [("setting", "setting"), ("model", "model"), ("arm", "epochs"), ("epochs", "n")]
    cols += [("acc", "test ACC"), ("balanced_acc", "test balanced acc"), ("auc", "test AUC")]
    return text + table(flat, [*cols, ("wall_time_s", "wall s / run")])


LABELS = {"pneumonia_500": ("pneumonia", 500), "pneumonia": ("pneumonia", 4708)}
LABELS |= {"adrenal3d_300": ("adrenal3d", 300), "adrenal3d": ("adrenal3d", 1188)}
"""Fine-tuning settings of ``pretrain_gain.json``: (data set, labelled training images)."""


def label_efficiency_page(data: Any, results: Path, out: Path) -> str:
    """Self-supervised pretraining: fine-tuning at several label counts, and linear probes."""
    rows = data["finetune"]
    cols = [("setting", "setting"), ("init", "initialisation"), ("seeds", "seeds")]
    cols += [("test_acc", "test ACC"), ("test_auc", "test AUC"), ("wall_time_s", "wall s")]
    text = "## Fine-tuning\n\n" + table(rows, cols)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    inits = sorted({r["init"] for r in rows})
    for ax, dataset in zip(axes, ("pneumonia", "adrenal3d")):
        counts = set()
        for i, init in enumerate(inits):
            points = sorted(
                (LABELS[r["setting"]][1], mean_of(r["test_auc"]))
                for r in rows
                if r["init"] == init and LABELS.get(r["setting"], ("",))[0] == dataset
            )
            if len(points) > 1:
                ax.plot(*zip(*points), "o-", color=f"C{i}", label=init)
                counts |= {x for x, _ in points}
        ax.set(xscale="log", xlabel="labelled training images", ylabel="test AUC", title=dataset)
        ax.set_xticks(sorted(counts), [str(c) for c in sorted(counts)])
        ax.minorticks_off()
        ax.legend(fontsize=6)
    text += "\n" + save_plot(fig, out, "label_efficiency.png")
    probes = [
        {"data": d, "encoder": e, "test_acc": [v["test_acc"], v["test_acc_std"]]}
        for d, encoders in data["linear_probe"].items()
        for e, v in encoders.items()
    ]
    text += "\n## Linear probe of frozen features\n\n"
    text += table(probes, [("data", "data"), ("encoder", "encoder"), ("test_acc", "test ACC")])
    runs = [{"run": k} | v for k, v in data["pretraining"].items()]
    cols = [("run", "pretraining"), ("images", "images"), ("epochs_run", "epochs")]
    cols += [("final_loss", "final loss"), ("images_per_s", "images/s")]
    cols += [("wall_time_s", "wall s")]
    return text + "\n## Pretraining runs\n\n" + table(runs, cols)


ALIGN_COLUMNS = ("i2t R@10", "t2i R@10", "region acc", "CT/MR acc")


def alignment_page(rows: Any, results: Path, out: Path) -> str:
    """Image–text alignment on MedPix 2.0: retrieval and zero-shot, and transfer."""
    cols = [("model", "image tower"), ("init", "init"), ("input_size", "input")]
    cols += [("epochs", "epochs"), ("seeds", "seeds")]
    cols += [(k, k) for k in ("i2t R@1", "i2t R@10", "t2i R@1", "t2i R@10")]
    cols += [("region acc", "zero-shot region"), ("CT/MR acc", "zero-shot CT/MR")]
    text = table(rows, cols)
    several = [r for r in rows if len(r["seeds"]) > 1]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / max(1, len(several))
    for i, r in enumerate(several):
        xs = [j + i * width for j in range(len(ALIGN_COLUMNS))]
        ax.bar(
            xs,
            [r[k][0] for k in ALIGN_COLUMNS],
            width,
            yerr=[r[k][1] for k in ALIGN_COLUMNS],
            label=f"{r['model']}, {r['init']}, {r['epochs']} ep",
        )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ALIGN_COLUMNS))], ALIGN_COLUMNS)
    ax.set(ylabel="test score", title="alignment scores (runs with several seeds)")
    ax.legend(fontsize=6)
    text += "\n" + save_plot(fig, out, "alignment_scores.png")
    transfer = read(results, "align_transfer.json")
    if transfer is not None:
        text += "\n## What the aligned tower transfers\n\n"
        text += source("align_transfer.json", "align_transfer.py")
        flat = [{"setting": k} | v for k, v in transfer.items()]
        keys = sorted({k for r in flat for k in r} - {"setting", "seeds"})
        text += table(flat, [("setting", "setting"), ("seeds", "seeds")] + [(k, k) for k in keys])
    return text


FUSION_SECTIONS = (
    ("fusion_fallback_400.json", "Fallback and table dropout, 400 training images"),
    ("fusion_fallback.json", "Fallback and table dropout, 2,000 training images"),
    ("fusion_64_500.json", "500 training images at 64², the shipped defaults"),
    ("fusion_64_500_resnet18.json", "ResNet-18, 500 training images at 64², the shipped defaults"),
)
"""The fusion sweeps shown below the main table: results file and section title."""


def fusion_page(rows: Any, results: Path, out: Path) -> str:
    """Fusion with clinical data on HAM10000."""
    cols = [("arm", "model"), ("params_M", "params (M)"), ("train_samples", "training images")]
    cols += [("balanced_acc", "balanced acc"), ("auc", "macro AUC"), ("acc", "ACC")]
    text = table(rows, cols)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    names = [r["arm"] for r in rows]
    ax.barh(
        names,
        [mean_of(r["balanced_acc"]) for r in rows],
        xerr=[r["balanced_acc"][1] if isinstance(r["balanced_acc"], list) else 0 for r in rows],
    )
    ax.set(xlabel="test balanced accuracy", title="HAM10000, 7 classes")
    text += "\n" + save_plot(fig, out, "fusion_balanced_acc.png")
    for name, title in FUSION_SECTIONS:
        fallback = read(results, name)
        if fallback is None:
            continue
        text += f"\n## {title}\n\n"
        text += source(name, "fusion_ham10000.py")
        text += "`~always`: the table in every sample and the saved model (the fusion before "
        text += "the fallback); `~dropout`: table dropout 0.25; `~shuffled`: clinical columns "
        text += "permuted across rows.\n\n"
        text += table(fallback, [*cols, ("table_used", "table kept (per seed)")])
    return text


def speed_page(scale: Any, results: Path, out: Path) -> str:
    """Scale-out from ``scale_out.json``; latency vs GMACs from every ``latency*.json``."""
    text = "## One process or several (torchrun)\n\n"
    text += table(scale["rows"], [(k, k) for k in scale["rows"][0]]) + "\n"
    cost = read(results, "epoch_cost.json")
    if cost is not None:
        text += "\n## One training epoch under the recipe\n\n"
        text += source("epoch_cost.json", "epoch_cost.py")
        cols = [("model", "model"), ("params_M", "params (M)"), ("wall_s", "wall s / run")]
        cols += [("train_s", "train s / epoch"), ("images_per_s", "images / s")]
        text += f"Device: {cost['env'].get('device_name', '?')}, one thread.\n\n"
        text += table(cost["rows"], cols) + "\n"
    files = sorted(results.glob("latency*.json")) + sorted(results.glob("gpu_check/*.json"))
    runs = [(f, json.loads(f.read_text(encoding="utf-8"))) for f in files]
    runs = [(f, r) for f, r in runs if isinstance(r, dict) and r.get("rows")]
    if not runs:
        text += missing("latency*.json")
    for path, run in runs:
        env, rows = run.get("env", {}), run["rows"]
        name = path.relative_to(results).as_posix()
        text += f"## {name}\n\n" + source(name, "latency.py")
        summary = run.get("settings", {}).get("summary")
        text += f"Setting: {summary}.\n\n" if summary else ""
        text += f"Device: {env.get('device_name', env.get('device', '?'))}.\n\n"
        keys = [k for k in ("model", "batch_size", "dtype", "mode") if k in rows[0]]
        keys += [
            k for k in ("params_m", "gmacs", "latency_ms_p50", "latency_ms_p90") if k in rows[0]
        ]
        keys += [k for k in ("throughput", "peak_mem_mb") if k in rows[0]]
        text += table(rows, [(k, k) for k in keys])
        if "gmacs" in rows[0] and "latency_ms_p50" in rows[0]:
            fig, ax = plt.subplots(figsize=(6.4, 4))
            for r in rows:
                ax.scatter(r["gmacs"], r["latency_ms_p50"])
                ax.annotate(str(r["model"]), (r["gmacs"], r["latency_ms_p50"]), fontsize=7)
            ax.set(xlabel="GMACs per sample", ylabel="latency p50 (ms per batch)")
            ax.set_title(f"latency vs GMACs ({env.get('device', '?')})")
            png = re.sub(r"[^A-Za-z0-9]+", "_", name.removesuffix(".json")) + ".png"
            text += "\n" + save_plot(fig, out, png)
    return text


def panel_page(data: Any, results: Path, out: Path) -> str:
    """Each default against the one before it, task by task, for ours and the baseline."""
    text = (
        "Δ = new − old default, test split, in points (×100), ± its standard error from the "
        "seeds' spreads; beyond 2 standard errors it is a gain or a loss, otherwise within "
        "noise. Leave one task out: the default chosen on the other tasks alone (new if it "
        "loses nowhere there and gains on average), then applied to the held-out task.\n"
    )
    for name, d in data.items():
        metrics = d["metrics"]
        rows = [{"task": r["task"], "model": r["model"], "seeds": r["seeds"]}
                | {m: r["delta"][m]["text"] for m in metrics} for r in d["rows"]]  # fmt: skip
        text += f"\n## {name}: {d['what']}\n\n"
        cols = [("task", "task"), ("model", "model"), ("seeds", "seeds old / new")]
        text += table(rows, cols + [(m, f"Δ {m}") for m in metrics])
        if d.get("reference") and d["rows"]:
            ref = [{"task": r["task"]} | {m: r["vs_reference"][m]["text"] for m in metrics}
                   for r in d["rows"]]  # fmt: skip
            text += f"\nThe new default against {d['reference']}:\n\n"
            text += table(ref, [("task", "task")] + [(m, f"Δ {m}") for m in metrics])
        worst = [f"{model}: {w['task']}, {w['metric']} {w['delta'] * 100:+.1f} ({w['verdict']})"
                 for model, w in d["worst"].items()]  # fmt: skip
        text += "\nWorst task: " + "; ".join(worst) + ".\n\n"
        loto = [{"task": r["held_out"], "chosen": "new" if r["chosen_new"] else "old"}
                | {m: ", ".join(f"{model} {v[m]['text']}" for model, v in r["held_out_delta"].items())
                   for m in metrics} for r in d["leave_one_task_out"]]  # fmt: skip
        cols = [("task", "held-out task"), ("chosen", "chosen on the others")]
        text += table(loto, cols + [(m, f"held-out Δ {m}") for m in metrics])
    return text


PAGES: dict[str, tuple[str, str, str, Callable[[Any, Path, Path], str]]] = {
    "small-data.md": ("Small data: MedMNIST under one recipe", "small_data", "small_data", small_data_page),
    "label-efficiency.md": ("Pretraining and label efficiency", "pretrain_gain", "pretrain_gain", label_efficiency_page),
    "alignment.md": ("Image–text alignment (MedPix 2.0)", "align_medpix", "align_medpix", alignment_page),
    "fusion.md": ("Fusion with clinical data (HAM10000)", "fusion_ham10000", "fusion_ham10000", fusion_page),
    "defaults.md": ("Defaults against the ones before (development panel)", "panel", "defaults_panel", panel_page),
    "speed.md": ("Speed: latency, GMACs and scale-out", "scale_out", "scale_out", speed_page),
}  # fmt: skip
"""Page file → (title, the JSON it is drawn from (``benchmarks/results/<name>.json``), the
benchmark script that writes it, the function that writes the page's body from its data)."""


def generate(results: Path = RESULTS, out: Path = OUT) -> list[Path]:
    """Write every results page (and its plots) into ``out``; returns the Markdown files."""
    out.mkdir(parents=True, exist_ok=True)
    index = "# Results\n\nGenerated from `benchmarks/results/*.json` when the site is built.\n\n"
    for name, (title, data_name, script, body) in PAGES.items():
        data = read(results, f"{data_name}.json")
        text = f"# {title}\n\n"
        if data is None:
            text += missing(f"{data_name}.json")
        else:
            text += source(f"{data_name}.json", f"{script}.py") + body(data, results, out)
        (out / name).write_text(text, encoding="utf-8")
        index += f"- [{title}]({name})\n"
    (out / "index.md").write_text(index, encoding="utf-8")
    return [out / "index.md", *(out / name for name in PAGES)]


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=RESULTS, help="benchmark JSON folder")
    p.add_argument("--out", type=Path, default=OUT, help="where the pages go")
    args = p.parse_args(argv)
    for path in generate(args.results, args.out):
        print(path)


if __name__ == "__main__":
    main()
