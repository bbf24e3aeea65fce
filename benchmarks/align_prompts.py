"""Choose zero-shot class names on MedPix 2.0's dev split, never the test split.

Loads every finished alignment run under ``--runs`` (their ``aligned/`` folders), embeds the
dev images once per run, and scores class-name lists for one zero-shot task (those with a
candidate pool below: ``region``) by the mean dev accuracy over the runs:

- ``current``: the names in ``hybridnets/align/prompts.py``;
- ``pool``: every name of the candidate pool below (what each category holds: the MedPix
  ``Location`` values under each ``Location Category``, in radiology words);
- ``greedy``: starting from ``current``, the pool name that lifts the mean dev accuracy most is
  added, one at a time, while it lifts it by more than ``--min-gain``.

    python benchmarks/align_prompts.py --runs runs/align_medpix --glob "*@64__s*" --task region

Writes ``benchmarks/results/align_prompts_<task>.json`` (every variant's names and per-run dev
scores). Adopting a list means editing ``prompts.py`` and ``align_medpix.py rescore``.
Data: ``$MEDPIX2_DIR`` as in ``align_medpix.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from _common import RESULTS, medpix_dir

from hybridnets.align.evaluate import (
    embed_images,
    embed_texts,
    load_for_scoring,
    zero_shot_scores,
)
from hybridnets.align.prompts import TASKS, ZeroShotTask
from hybridnets.atomic import atomic_write_text

_logger = logging.getLogger("align_prompts")
POOL: dict[str, dict[str, list[str]]] = {
    "region": {
        "Head": [
            "head",
            "brain",
            "skull",
            "orbit",
            "neck",
            "face",
            "sinus",
            "cerebellum",
            "cerebral hemisphere",
            "pituitary",
            "temporal bone",
        ],
        "Spine and Muscles": [
            "spine",
            "spine and muscles",
            "vertebral body",
            "spinal cord",
            "knee",
            "shoulder",
            "hip",
            "bone",
            "joint",
            "femur",
            "muscle",
            "musculoskeletal",
            "ankle",
            "soft tissue of the extremity",
        ],
        "Thorax": [
            "chest",
            "thorax",
            "lung",
            "mediastinum",
            "heart",
            "pulmonary",
            "breast",
            "aorta",
            "pleura",
        ],
        "Abdomen": [
            "abdomen",
            "liver",
            "pancreas",
            "bowel",
            "spleen",
            "stomach",
            "colon",
            "gallbladder",
            "mesentery",
        ],
        "Reproductive and Urinary System": [
            "pelvis",
            "kidney",
            "bladder",
            "prostate",
            "uterus",
            "ovary",
            "renal",
            "scrotum",
            "adrenal",
        ],
    },
}


class Run:
    """One aligned model's dev image embeddings, labels and a cache of prompt embeddings."""

    def __init__(self, folder: Path, data: Path, split: str) -> None:
        self.name = folder.parent.name
        self.model, self.pairs, prepare = load_for_scoring(folder, data, split)
        self.images = embed_images(self.model, self.pairs, prepare, torch.device("cpu"))
        self._texts: dict[str, torch.Tensor] = {}

    def encode(self, texts: list[str]) -> torch.Tensor:
        new = [t for t in dict.fromkeys(texts) if t not in self._texts]
        if new:
            self._texts.update(zip(new, embed_texts(self.model, new)))
        return torch.stack([self._texts[t] for t in texts])

    def score(self, task: str, names: dict[str, list[str]]) -> dict[str, float]:
        prompts = ZeroShotTask(TASKS[task].templates, names)
        return zero_shot_scores(self.images, self.pairs, task, list(names), self.encode, prompts)


def mean_score(runs: Sequence[Run], task: str, names: dict[str, list[str]]) -> dict[str, Any]:
    scores = [r.score(task, names) for r in runs]
    return {
        "names": names,
        "acc": statistics.fmean(s["acc"] for s in scores),
        "balanced_acc": statistics.fmean(s["balanced_acc"] for s in scores),
        "per_run": {r.name: round(s["acc"], 4) for r, s in zip(runs, scores)},
    }


def greedy(
    runs: Sequence[Run], task: str, start: dict[str, list[str]], min_gain: float
) -> dict[str, Any]:
    names = {c: list(v) for c, v in start.items()}
    best = mean_score(runs, task, names)
    while True:
        trials = []
        for c, pool in POOL[task].items():
            for word in (w for w in pool if w not in names[c]):
                trial = {k: [*v, word] if k == c else v for k, v in names.items()}
                trials.append(mean_score(runs, task, trial))
        top = max(trials, key=lambda s: s["acc"], default=None)
        if top is None or top["acc"] - best["acc"] <= min_gain:
            return best
        names, best = top["names"], top
        _logger.info("greedy: %.4f with %s", best["acc"], names)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=Path, default=Path("runs/align_medpix"), help="finished runs")
    p.add_argument(
        "--glob", default="*__s*", help="which run folders under --runs (default: all, *__s*)"
    )
    p.add_argument("--task", default="region", choices=sorted(POOL), help="zero-shot task")
    p.add_argument("--split", default="dev", choices=["dev", "train"], help="scoring split")
    p.add_argument(
        "--min-gain", type=float, default=0.005, help="smallest mean accuracy gain to add a name"
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    data = medpix_dir()
    folders = sorted(args.runs.glob(f"{args.glob}/aligned"))
    if not folders or not (data / "splits").is_dir():
        _logger.warning(
            "skipping: need finished runs under %s and MedPix 2.0 at %s", args.runs, data
        )
        return 0
    runs = [Run(f, data, args.split) for f in folders]
    current = {c: TASKS[args.task].names.get(c, [c]) for c in POOL[args.task]}
    variants = {
        "current": mean_score(runs, args.task, current),
        "pool": mean_score(runs, args.task, POOL[args.task]),
        "greedy": greedy(runs, args.task, current, args.min_gain),
    }
    for name, v in variants.items():
        _logger.info("%s: %s acc %.4f balanced %.4f", name, args.split, v["acc"], v["balanced_acc"])
    out = args.out / f"align_prompts_{args.task}.json"
    result = {"split": args.split, "runs": [r.name for r in runs], "min_gain": args.min_gain,
              "variants": variants}  # fmt: skip
    atomic_write_text(out, json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
