"""MedPix 2.0 image–text benchmark: LiT (frozen all-MiniLM-L6-v2) with several image towers.

Every run is an ``AlignConfig`` on the dataset's own case-disjoint split (1,653 train / 197 dev
/ 200 test images), run by ``python -m hybridnets.align --config`` in a process of its own, its
config file and log beside its result; finished runs (``result.json`` present) are not run
again, so an interrupted sweep resumes (one that finished with other settings, e.g.
``--epochs``, stops the sweep: use another ``--runs``). The summary is mean ± std over seeds of the test split's retrieval (R@1/5/10 and median rank,
image→text over the 128 distinct test captions and text→image) and zero-shot accuracy on the
5 body regions and CT vs MR:

    python benchmarks/align_medpix.py run --models convvit_n,resnet18 --seeds 0,1,2 \\
        --input-size 128 --epochs 30
    python benchmarks/align_medpix.py run --models convvit_n --pretrain --input-size 128 ...
    python benchmarks/align_medpix.py run --models convvit_n --pretrain --pretrain-size 64 \
        --input-size 96 ...                     # pretrain at 64², align at 96²
    python benchmarks/align_medpix.py run --models convvit_n --extra "--text-lora-rank 8" ...
    python benchmarks/align_medpix.py rescore     # finished runs, scored with today's prompts
    python benchmarks/align_medpix.py summary     # benchmarks/results/align_medpix.{json,md}

``--pretrain`` starts hybridnets image towers from self-supervised weights: contrastive
pretraining (``python -m hybridnets.pretrain --objective contrastive``) on the images of the
training split, captions unused, once per model and input size (shared by the seeds; folder
``pretrained/<model>_contrastive_<size>`` under ``--runs``), then the same alignment.
``--extra`` takes more options of ``python -m hybridnets.align``, parsed once by its own parser.

Data: ``$MEDPIX2_DIR``, else ``../shared/data/medpix2`` beside the repository (research use
only: never copied into the repository). Without it the script says where it looked and exits.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import (
    RESULTS,
    group_results,
    md_table,
    mean_std,
    medpix_dir,
    plus_minus,
    recipe_options,
    run_recipe,
    sweep_main,
    sweep_parser,
    write_summary,
)

from hybridnets.align.config import EXTRA_TEXT_PROB, AlignConfig
from hybridnets.engine.config import result_free
from hybridnets.pretrain.config import PretrainConfig

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


def run_folder(
    runs: Path,
    model: str,
    seed: int,
    pretrain: bool = False,
    layer_decay: float | None = None,
    extra_text_prob: float = 0.0,
    input_size: int = 64,
    pretrain_size: int | None = None,
) -> Path:
    """``<model>[+contrastive[<pretrain size>]][+ld<decay>][+extra<share>]@<size>__s<seed>``."""
    variant = ""
    if pretrain:
        variant += "+contrastive" + (
            "" if pretrain_size in (None, input_size) else f"{pretrain_size}"
        )
    variant += f"+ld{layer_decay}" if layer_decay else ""
    variant += f"+extra{extra_text_prob}" if extra_text_prob else ""
    return runs / f"{model}{variant}@{input_size}__s{seed}"


def _folder(args: argparse.Namespace, model: str, seed: int) -> Path:
    return run_folder(args.runs, model, seed, args.pretrain, args.layer_decay,
                      args.extra_text_prob, args.input_size, _pretrain_size(args))  # fmt: skip


def _pretrain_size(args: argparse.Namespace) -> int:
    return args.pretrain_size or args.input_size


def pretrained_folder(runs: Path, model: str, input_size: int) -> Path:
    return runs / "pretrained" / f"{model}_contrastive_{input_size}"


def pretrained_size(folder: str) -> int | None:
    """The input size a :func:`pretrained_folder` was pretrained at (None: another folder)."""
    tail = Path(folder).name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def pretrain_config(model: str, args: argparse.Namespace, data: Path) -> PretrainConfig:
    """Contrastive pretraining of ``model`` on the training split's images (seed 0)."""
    size = _pretrain_size(args)
    return PretrainConfig(model=model, data=str(data), objective="contrastive", input_size=size,
                          in_chans=1, epochs=args.pretrain_epochs, num_threads=args.num_threads,
                          out_dir=str(pretrained_folder(args.runs, model, size)),
                          progress=False)  # fmt: skip


def config(model: str, seed: int, args: argparse.Namespace, data: Path) -> AlignConfig:
    """The recipe's config of one run (LiT: the text tower is frozen by default); ``--extra``
    overrides the sweep's size, epochs, seed and threads, not its layer decay, extra texts or
    pretrained weights."""
    settings = {"model": model, "data": str(data), "input_size": args.input_size,
                "epochs": args.epochs, "seed": seed, "out_dir": str(_folder(args, model, seed)),
                "num_threads": args.num_threads, "progress": False} | args.extra  # fmt: skip
    if args.layer_decay:
        settings["layer_decay"] = args.layer_decay
    settings["extra_text_prob"] = args.extra_text_prob
    if args.pretrain:
        settings["pretrained"] = str(pretrained_folder(args.runs, model, _pretrain_size(args)))
    return AlignConfig(**settings)


def run(args: argparse.Namespace) -> int:
    data = medpix_dir()
    if not (data / "splits" / "descriptions_train.jsonl").is_file():
        _logger.warning("skipping: no MedPix 2.0 at %s (set MEDPIX2_DIR)", data)
        return 0
    for model in args.models:
        weights = pretrained_folder(args.runs, model, _pretrain_size(args))
        missing = args.pretrain and not (weights / "model.safetensors").is_file()
        if missing and run_recipe(pretrain_config(model, args, data), weights / "pretrain.log"):
            continue  # pretraining failed: its log says why
        for seed in args.seeds:
            folder, asked = _folder(args, model, seed), config(model, seed, args, data)
            if not (folder / "result.json").is_file():
                run_recipe(asked, folder / "align.log")
            elif changed := changed_settings(folder / "result.json", asked):
                what = ", ".join(
                    f"{k} {new} (finished with {old})" for k, (old, new) in changed.items()
                )
                _logger.error(
                    "%s finished with other settings than this sweep asks: %s; give this sweep "
                    "another --runs folder (the folder name holds only the model, start, extra "
                    "texts, size and seed)",
                    folder,
                    what,
                )
                return 2
    return 0


RUNTIME = frozenset({"data", "device", *result_free(AlignConfig)})
"""Settings that do not change what a run computes (or that name where it is)."""


def changed_settings(result: Path, config: AlignConfig) -> dict[str, tuple[Any, Any]]:
    """The recipe settings in which the finished run ``result`` (its ``result.json``) differs
    from ``config``: ``{name: (finished, asked)}``; pretrained weights compare by folder name
    (runs folders may be linked or moved)."""
    from hybridnets.engine.loop import changed_settings as differ

    asked = dataclasses.asdict(config)
    done = json.loads(result.read_text())["config"]
    for config in (asked, done):
        if config.get("pretrained"):
            config["pretrained"] = Path(config["pretrained"]).name
    asked = {k: v for k, v in asked.items() if k in done}  # settings newer than the run
    return differ(done, asked, RUNTIME)


def rescore(args: argparse.Namespace) -> int:
    """Score every finished run's saved model on the test split again, with the prompts of
    today's ``hybridnets/align/prompts.py``; the scores it finished with stay in
    ``result.json`` as ``test_at_finish``."""
    from hybridnets.align import score_aligned
    from hybridnets.atomic import atomic_write_text

    data = medpix_dir()
    for path in sorted(args.runs.glob("*__s*/result.json")):
        result = json.loads(path.read_text())
        result.setdefault("test_at_finish", result["test"])
        result["test"] = score_aligned(path.parent / "aligned", data, "test")
        atomic_write_text(path, json.dumps(result, indent=2))
        zero_shot = {task: round(s["acc"], 3) for task, s in result["test"]["zero_shot"].items()}
        _logger.info("%s: zero-shot %s", path.parent.name, zero_shot)
    return 0


def _get(result: dict[str, Any], path: tuple[str, ...]) -> float:
    value: Any = result["test"]
    for key in path:
        value = value[key]
    return float(value)


def _init(result: dict[str, Any]) -> str:
    """How the image tower started (scratch or contrastive, with the pretraining input size
    when it differs), and the layer decay and share of extra (case report) texts if any."""
    config = result["config"]
    init = "contrastive" if config.get("pretrained") else "scratch"
    size = pretrained_size(config["pretrained"]) if config.get("pretrained") else None
    if size not in (None, config["input_size"]):
        init += f" at {size}²"
    init += f", layer decay {config['layer_decay']}" if config.get("layer_decay") else ""
    p = result.get("extra_text_prob", config.get("extra_text_prob"))  # as used, else as asked
    return init + (f", extra texts {p}" if p else "")


def summarise(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std over seeds of every metric of one model's results."""
    row: dict[str, Any] = {
        "model": results[0]["model"],
        "init": _init(results[0]),
        "text_model": "/".join(Path(results[0]["text_model"]).parts[-2:]),
        "mode": results[0]["mode"],
        "input_size": results[0]["config"]["input_size"],
        "epochs": results[0]["config"]["epochs"],
        "params_M": results[0]["image_params"] / 1e6,
        "seeds": [r["config"]["seed"] for r in results],
        "wall_time_s": [r["wall_time_s"] for r in results],
    }
    for name, path in METRICS.items():
        row[name] = mean_std(_get(r, path) for r in results)
    return row


def table(rows: Sequence[dict[str, Any]]) -> str:
    head = ["model", "init", "text", "input", "epochs", "image params", "seeds", *METRICS]
    cells = []
    for r in rows:
        scores = [plus_minus(r[name], 1 if "med" in name else 3) for name in METRICS]
        cells.append([r["model"], r["init"], r["mode"], r["input_size"], r["epochs"],
                      f"{r['params_M']:.2f}M", len(r["seeds"]), *scores,
                      f"{statistics.fmean(r['wall_time_s']):.0f}"])  # fmt: skip
    return md_table([*head, "wall s / run"], cells)


def summary(runs: Path, out: Path = RESULTS) -> Path | None:
    """``align_medpix.json`` and ``.md`` (mean ± std over seeds) from the finished runs."""
    groups = group_results(
        runs,
        lambda r: (
            f"{r['model']} {r['mode']} {r['config']['input_size']} {r['config']['epochs']} "
            f"{_init(r)}"
        ),
    )
    if not groups:
        _logger.warning("no finished runs under %s", runs)
        return None
    rows = [summarise(results) for results in groups.values()]
    rows.sort(
        key=lambda r: (
            r["model"],
            r["input_size"],
            not r["init"].startswith("scratch"),
            r["init"],
            r["epochs"],
        )
    )
    first = next(iter(groups.values()))[0]
    note = (
        f"MedPix 2.0 test split ({first['test_pairs']} images, {first['test_captions']} distinct "
        f"captions; chance R@10 = 10/{first['test_captions']} image→text). Text tower "
        f"{rows[0]['text_model']}: frozen (lit), or with LoRA adapters (lora); image tower from "
        "scratch, or (init contrastive) from contrastive pretraining on the training split's "
        "images (`--pretrain`). Zero-shot prompts: hybridnets/align/prompts.py (runs finished "
        "before a prompt change re-scored by `rescore`; their original scores stay in "
        "result.json as test_at_finish). Commands: `python benchmarks/align_medpix.py run ...` "
        "(each run's settings are in its result.json config and run_config.json)."
    )
    return write_summary(out, "align_medpix", rows, note, table(rows))


def build_parser() -> argparse.ArgumentParser:
    """The sweep's options (``--extra`` already parsed into config fields)."""
    p = sweep_parser(__doc__.split("\n\n")[0], "runs/align_medpix", ("rescore",))
    p.add_argument("--models", default="convvit_n,convvit_t,resnet18", type=lambda s: s.split(","))
    p.add_argument("--input-size", type=int, default=128, help="side length (default: 128)")
    p.add_argument("--epochs", type=int, default=30, help="epochs per run (default: 30)")
    p.add_argument("--num-threads", type=int, default=1, help="torch threads per run")
    p.add_argument(
        "--extra",
        default="",
        type=recipe_options(AlignConfig),
        help="more options of python -m hybridnets.align, quoted (e.g. '--text-lora-rank 8'), "
        "parsed by its parser; they override --input-size, --epochs and --num-threads",
    )
    p.add_argument(
        "--pretrain",
        action="store_true",
        help="start hybridnets image towers from contrastive weights pretrained on the training "
        "images (pretrained first when missing)",
    )
    p.add_argument(
        "--layer-decay",
        type=float,
        default=None,
        help="layer-wise LR decay of the image backbone, e.g. 0.75 with --pretrain (default: off)",
    )
    p.add_argument(
        "--extra-text-prob",
        type=float,
        default=EXTRA_TEXT_PROB,
        help="pair training images with their case report's title and findings instead of "
        f"the caption this often (default: {EXTRA_TEXT_PROB}, the recipe's; 0: captions only)",
    )
    p.add_argument(
        "--pretrain-size",
        type=int,
        default=None,
        help="input side of the contrastive pretraining (default: --input-size); e.g. 64 to "
        "pretrain cheaply and align at 128 (the stages' windowed attention takes any size)",
    )
    p.add_argument(
        "--pretrain-epochs",
        type=int,
        default=40,
        help="contrastive pretraining epochs (default: 40)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return sweep_main(build_parser(), argv, run, summary, {"rescore": rescore})


if __name__ == "__main__":
    sys.exit(main())
