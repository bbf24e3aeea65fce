"""What self-supervised pretraining buys: masked image modelling or contrastive views on the
unlabelled training images, then the supervised recipe with few and with all labels, against
scratch, 3 seeds.

Every run is the recipe's config (``PretrainConfig``, ``TrainConfig``) run by
``python -m hybridnets.pretrain|train --config`` in a process of its own, one thread per run.
Fine-tunes take the recipe's defaults; pretrained runs add ``pretrained`` and
``layer_decay=0.75``, and scratch is run both with its own default recipe and with that same
layer decay (see :data:`INITS`). The linear probe is ``benchmarks/linear_probe.py``'s
protocol on the frozen encoder, pretrained vs randomly initialised (and MIM-pretrained with
BatchNorm statistics taken under masking, to show why they are re-estimated):

    python benchmarks/pretrain_gain.py pretrain --datasets pneumonia,adrenal3d --jobs 2
    python benchmarks/pretrain_gain.py pretrain --objectives contrastive --epochs 40
    python benchmarks/pretrain_gain.py finetune --jobs 2 --reuse runs/small_data
    python benchmarks/pretrain_gain.py probe
    python benchmarks/pretrain_gain.py summary --reuse runs/small_data   # results/pretrain_gain*

Data: MedMNIST files in ``$MEDMNIST_DIR`` or ``../shared/data`` (a missing file is skipped with
its path named). Run folders go to ``--runs`` (default ``runs/pretrain_gain``); finished runs are
not run again. ``--reuse`` names the small-data sweep's folder: its ``convvit_n`` runs of the
same settings are the default-recipe scratch runs (identical settings), not trained twice.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import md_table, mean_std, medmnist_dir, plus_minus, run_recipe
from linear_probe import extract_features, probe

from hybridnets.atomic import atomic_write_text
from hybridnets.checkpoint import read_record
from hybridnets.pretrain.config import PretrainConfig
from hybridnets.train import TrainConfig

_logger = logging.getLogger("pretrain_gain")
RESULTS = Path(__file__).parent / "results"
MODEL = "convvit_n"

# dataset -> (file, PretrainConfig fields besides the defaults)
PRETRAIN: dict[str, tuple[str, dict[str, Any]]] = {
    "pneumonia": ("pneumoniamnist.npz", {"epochs": 40}),
    "adrenal3d": ("adrenalmnist3d.npz", {"epochs": 40}),
}
# objective -> PretrainConfig fields besides the defaults
OBJECTIVES: dict[str, dict[str, Any]] = {"mim": {}, "contrastive": {"objective": "contrastive"}}
# setting -> (dataset, TrainConfig fields besides the defaults)
SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "pneumonia_500": ("pneumonia", {"epochs": 30, "max_train_samples": 500}),
    "pneumonia": ("pneumonia", {"epochs": 10}),
    "adrenal3d_300": ("adrenal3d", {"epochs": 30, "max_train_samples": 300}),
    "adrenal3d": ("adrenal3d", {"epochs": 10}),
}
# init -> (TrainConfig fields, the objective whose pretrained folder it starts from). Pretrained
# weights are fine-tuned with layer-wise LR decay 0.75 (measured: without it, full-LR
# fine-tuning on 500 labels erased the gain); scratch is run with the same recipe and with its
# own default.
INITS: dict[str, tuple[dict[str, Any], str | None]] = {
    "scratch": ({}, None),
    "scratch_ld": ({"layer_decay": 0.75}, None),
    "mim_nold": ({}, "mim"),
    "mim": ({"layer_decay": 0.75}, "mim"),
    "contrastive": ({"layer_decay": 0.75}, "contrastive"),
    "contrastive_nold": ({}, "contrastive"),
}
INIT_LABELS = {
    "scratch": "scratch (default recipe)",
    "scratch_ld": "scratch + layer decay 0.75",
    "mim_nold": "MIM-pretrained, default recipe",
    "mim": "MIM-pretrained + layer decay 0.75",
    "contrastive": "contrastive-pretrained + layer decay 0.75",
    "contrastive_nold": "contrastive-pretrained, default recipe",
}


def pretrained_folder(runs: Path, dataset: str, objective: str = "mim") -> Path:
    return runs / f"{objective}_{dataset}"


def run_folder(runs: Path, setting: str, init: str, seed: int) -> Path:
    return runs / f"{setting}__{init}__s{seed}"


def scratch_result(runs: Path, reuse: Path | None, setting: str, seed: int) -> Path:
    """Where the scratch run's result is: ours, else the small-data sweep's identical run."""
    own = run_folder(runs, setting, "scratch", seed)
    if reuse is not None and not (own / "result.json").is_file():
        theirs = reuse / f"{setting}__{MODEL}__s{seed}"
        if (theirs / "result.json").is_file():
            return theirs
    return own


def _launch(config: PretrainConfig | TrainConfig) -> None:
    folder = Path(config.out_dir)
    if (folder / "result.json").is_file():
        return
    run_recipe(config, folder / "run.log", mode="a")


def pretrain_jobs(
    datasets: Sequence[str], objectives: Sequence[str], runs: Path, epochs: int | None = None
) -> list[PretrainConfig]:
    """The pretraining config of every dataset and objective (``epochs``: instead of
    :data:`PRETRAIN`'s); its ``out_dir`` is the pretrained folder."""
    jobs = []
    for name in datasets:
        file, extra = PRETRAIN[name]
        path = medmnist_dir() / file
        if not path.is_file():
            _logger.warning("skipping %s: %s not found (set MEDMNIST_DIR)", name, path)
            continue
        for objective in objectives:
            settings = (
                extra | OBJECTIVES[objective] | ({} if epochs is None else {"epochs": epochs})
            )
            folder = pretrained_folder(runs, name, objective)
            config = PretrainConfig(model=MODEL, data=str(path), **settings, out_dir=str(folder),
                                    num_threads=1, progress=False)  # fmt: skip
            jobs.append(config)
    return jobs


def finetune_jobs(
    settings: Sequence[str],
    inits: Sequence[str],
    seeds: Sequence[int],
    runs: Path,
    reuse: Path | None,
) -> list[TrainConfig]:
    """The fine-tuning config of every setting, init and seed not done yet (scratch runs the
    ``reuse`` sweep holds are left out); its ``out_dir`` is the run folder."""
    jobs = []
    for setting in settings:
        dataset, extra = SETTINGS[setting]
        path = medmnist_dir() / PRETRAIN[dataset][0]
        if not path.is_file():
            _logger.warning("skipping %s: %s not found", setting, path)
            continue
        for init in inits:
            init_settings, objective = INITS[init]
            pretrained = pretrained_folder(runs, dataset, objective or "mim")
            if objective and not (pretrained / "model.safetensors").is_file():
                _logger.warning("skipping %s/%s: pretrain %s first", setting, init, dataset)
                continue
            for seed in seeds:
                if init == "scratch" and scratch_result(runs, reuse, setting, seed).parent != runs:
                    continue  # the small-data sweep already ran this exact command
                folder = run_folder(runs, setting, init, seed)
                start = {"pretrained": str(pretrained)} if objective else {}
                jobs.append(TrainConfig(model=MODEL, data=str(path), **extra, seed=seed,
                                        out_dir=str(folder), **init_settings, num_threads=1,
                                        progress=False, **start))  # fmt: skip
    return jobs


def _masked_bn_encoder(folder: Path, images: torch.Tensor) -> torch.nn.Module:
    """The pretrained encoder with BatchNorm statistics taken under masking (what they were
    before the recipe re-estimated them on clean images)."""
    import hybridnets
    from hybridnets.pretrain import MaskedImageModel
    from hybridnets.pretrain.batchnorm import recalibrate_batchnorm
    from hybridnets.pretrain.masking import random_visible

    recipe = read_record(folder)[1]
    encoder = hybridnets.create(pretrained=str(folder))
    config = recipe["config"]
    mim = MaskedImageModel(
        encoder, recipe["mask_patch"], config["mask_ratio"], config["mask_style"]
    )
    generator = torch.Generator().manual_seed(0)

    class Masked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mim = mim

        def forward(self, x: torch.Tensor) -> None:
            mim.encode(x, random_visible(len(x), mim.grid(x), mim.mask_ratio, generator))

    recalibrate_batchnorm(Masked(), images.split(64))
    return encoder.eval()


def run_probes(runs: Path, datasets: Sequence[str], objectives: Sequence[str]) -> None:
    """Linear probes of each objective's pretrained encoder and of the random-init one it is
    compared with (``<folder>/probe.json``; every folder's random init is the same encoder);
    the MIM folder's also holds the masked-BN encoder."""
    import hybridnets
    from hybridnets.data import MedMNIST

    for name in datasets:
        for objective in objectives:
            folder = pretrained_folder(runs, name, objective)
            out = folder / "probe.json"
            if out.is_file() or not (folder / "model.safetensors").is_file():
                continue
            splits = {
                s: MedMNIST(medmnist_dir() / PRETRAIN[name][0], s) for s in ("train", "val", "test")
            }
            mean, std = splits["train"].channel_stats()
            for ds in splits.values():
                ds.set_normalization(mean, std)
            train = splits["train"]
            torch.manual_seed(0)  # the random init is drawn after the pretrained model's
            pretrained = hybridnets.create(pretrained=str(folder))
            encoders = {
                "random init": hybridnets.create(
                    MODEL, spatial_dims=train.spatial_dims, in_chans=train.in_chans, num_classes=0
                ),
                f"{objective}-pretrained": pretrained,
            }
            if objective == "mim":
                encoders["pretrained (BN re-estimated)"] = encoders.pop("mim-pretrained")
                encoders["pretrained (BN from masked inputs)"] = _masked_bn_encoder(
                    folder, train.normalize(train.images)
                )
            results = {}
            for label, encoder in encoders.items():
                features = {s: extract_features(encoder.eval(), ds) for s, ds in splits.items()}
                results[label] = probe(features, ("logreg",))["logreg"]
                _logger.info("%s %s: %.3f", name, label, results[label]["test_acc"])
            atomic_write_text(out, json.dumps(results, indent=2) + "\n")


def summary(
    runs: Path, reuse: Path | None, out: Path = RESULTS, seeds: Sequence[int] = (0, 1, 2)
) -> Path:
    """Fine-tune rows (mean ± std over ``seeds``, every init on the same ones), probes and
    pretraining cost into ``pretrain_gain.json`` and ``pretrain_gain_table.md``."""
    rows, finetune, pretrain, probed = [], [], [], []
    for setting in SETTINGS:
        for init in INITS:
            results = []
            for seed in seeds:
                folder = (
                    scratch_result(runs, reuse, setting, seed)
                    if init == "scratch"
                    else run_folder(runs, setting, init, seed)
                )
                if (folder / "result.json").is_file():
                    results.append(json.loads((folder / "result.json").read_text()))
            if not results:
                continue
            acc = mean_std([r["test"]["acc"] for r in results])
            auc = mean_std([r["test"]["auc"] for r in results])
            wall = float(np.median([r["wall_time_s"] for r in results]))
            rows.append({"setting": setting, "init": init, "seeds": len(results),
                         "test_acc": acc, "test_auc": auc, "wall_time_s": wall})  # fmt: skip
            finetune.append([setting, INIT_LABELS[init], len(results), plus_minus(acc),
                             plus_minus(auc), f"{wall:.0f}"])  # fmt: skip
    pretraining, probes = {}, {}
    for name in PRETRAIN:
        for objective in OBJECTIVES:
            folder = pretrained_folder(runs, name, objective)
            if (folder / "result.json").is_file():
                r = json.loads((folder / "result.json").read_text())
                pretraining[f"{objective}_{name}"] = {
                    k: r[k]
                    for k in ("images", "epochs_run", "final_loss", "images_per_s", "wall_time_s")
                }
                pretrain.append([f"{name} ({objective})", r["images"], r["epochs_run"],
                                 f"{r['final_loss']:.4f}", f"{r['images_per_s']:.0f}",
                                 f"{r['wall_time_s']:.0f}"])  # fmt: skip
            if (folder / "probe.json").is_file():
                found = json.loads((folder / "probe.json").read_text())
                probes[name] = probes.get(name, {}) | found
    for name, result in probes.items():
        for label, r in result.items():
            probed.append([name, label, plus_minus([r["test_acc"], r["test_acc_std"]])])
    tables = [
        md_table(["setting", "init", "seeds", "test ACC", "test AUC",
                  "wall s/run (2 jobs on 2 cores)"], finetune),
        md_table(["pretraining", "images", "epochs", "final loss", "images/s", "wall s"],
                 pretrain),
        md_table(["linear probe (logreg, 5 subsample seeds)", "encoder", "test ACC"], probed),
    ]  # fmt: skip
    payload = {"finetune": rows, "pretraining": pretraining, "linear_probe": probes}
    atomic_write_text(out / "pretrain_gain.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(out / "pretrain_gain_table.md", "\n\n".join(tables) + "\n")
    return out / "pretrain_gain_table.md"


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("pretrain", help="self-supervised pretraining on each train split")
    pre.add_argument("--datasets", default=",".join(PRETRAIN), help="comma-separated datasets")
    pre.add_argument(
        "--epochs", type=int, default=None, help="pretraining epochs (default: PRETRAIN's)"
    )
    fine = sub.add_parser("finetune", help="scratch and pretrained runs of every setting and seed")
    fine.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated settings")
    fine.add_argument("--inits", default=",".join(INITS), help=f"comma-separated of {list(INITS)}")
    fine.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    pro = sub.add_parser("probe", help="linear probes of random-init and pretrained encoders")
    pro.add_argument("--datasets", default=",".join(PRETRAIN), help="comma-separated datasets")
    for q in (pre, pro):
        q.add_argument("--objectives", default="mim", help=f"comma-separated of {list(OBJECTIVES)}")
    summ = sub.add_parser("summary", help="results/pretrain_gain.json, pretrain_gain_table.md")
    for q in (pre, fine, pro, summ):
        q.add_argument("--runs", type=Path, default=Path("runs/pretrain_gain"), help="run folders")
    for q in (pre, fine):
        q.add_argument("--jobs", type=int, default=2, help="runs side by side (one thread each)")
    summ.add_argument("--seeds", default="0,1,2", help="comma-separated seeds to average")
    for q in (fine, summ):
        q.add_argument(
            "--reuse",
            type=Path,
            default=None,
            help="small-data sweep folder whose "
            "convvit_n runs of the same settings serve as scratch runs",
        )
    args = p.parse_args(argv)
    if args.command == "summary":
        print(summary(args.runs, args.reuse, seeds=[int(s) for s in args.seeds.split(",")]))
        return
    if args.command == "probe":
        run_probes(args.runs, args.datasets.split(","), args.objectives.split(","))
        return
    if args.command == "pretrain":
        jobs = pretrain_jobs(
            args.datasets.split(","), args.objectives.split(","), args.runs, args.epochs
        )
    else:
        seeds = [int(s) for s in args.seeds.split(",")]
        jobs = finetune_jobs(
            args.settings.split(","), args.inits.split(","), seeds, args.runs, args.reuse
        )
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(_launch, jobs))


if __name__ == "__main__":
    main()
