"""Scale-out check: the recipe in N processes (torchrun, gloo on CPU / NCCL on GPUs) against one
process with the same global batch and seed — loss trajectories and training throughput.

    python benchmarks/scale_out.py                       # convvit_n 2D and 3D, 1 vs 2 processes
    python benchmarks/scale_out.py --nproc 1,2,4 --epochs 3 --settings adrenal3d
    python benchmarks/scale_out.py --device cuda --nproc 1,8 --max-train-samples 4096  # a GPU node

Every run is ``python -m hybridnets.train`` (``torch.distributed.run --standalone`` when N > 1)
with the recipe's defaults, ``--threads`` torch threads per process, on a stratified subset of
the training split. A row per (setting, N): the per-epoch training loss of the global batch,
its largest relative gap to the one-process run, and training images/s (the training pass
alone, from ``train_s`` in the history). Results go to ``--json`` and a Markdown table beside it.

Data: MedMNIST files in ``$MEDMNIST_DIR`` or ``../shared/data``; a missing file is skipped with
its path named.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from _common import env_info, markdown_table, medmnist_dir, split_names, write_config

from hybridnets.atomic import atomic_write_text
from hybridnets.train import TrainConfig

_logger = logging.getLogger("scale_out")
RESULTS = Path(__file__).parent / "results"
SETTINGS = {"pneumonia": "pneumoniamnist.npz", "adrenal3d": "adrenalmnist3d.npz"}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="convvit_n", help="any resolvable model (default convvit_n)")
    p.add_argument(
        "--model-kwargs", default=None, help="JSON constructor arguments passed to every run"
    )
    p.add_argument("--settings", default="pneumonia,adrenal3d", help="comma list of settings")
    p.add_argument("--nproc", default="1,2", help="process counts to compare (first = reference)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per run (default 2)")
    p.add_argument("--batch-size", type=int, default=32, help="global batch size (default 32)")
    p.add_argument(
        "--max-train-samples", type=int, default=512, help="training subset (default 512)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument(
        "--json", type=Path, default=RESULTS / "scale_out.json", help="results file (JSON)"
    )
    return p.parse_args(argv)


def train_config(data: Path, out: Path, args: argparse.Namespace) -> TrainConfig:
    """The run's settings: the same for every process count."""
    return TrainConfig(
        model=args.model,
        model_kwargs=json.loads(args.model_kwargs) if args.model_kwargs else {},
        data=str(data),
        out_dir=str(out),
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_train_samples=args.max_train_samples,
        num_threads=args.threads,
        device=args.device,
        progress=False,
        resume=False,
    )


def run_once(data: Path, nproc: int, out: Path, args: argparse.Namespace) -> dict:
    """One training run in ``nproc`` processes (torchrun above one); returns its result.json.
    The settings travel as a ``--config`` file written beside the run folder."""
    config = write_config(train_config(data, out, args), out.with_name(f"{out.name}.config.json"))
    launcher = [sys.executable, "-m", "hybridnets.train"]
    if nproc > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        launcher += ["--nproc_per_node", str(nproc), "-m", "hybridnets.train"]
    cmd = [*launcher, "--config", str(config)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    _logger.info("%s", " ".join(cmd))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"run failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-4000:]}"
        )
    return json.loads((out / "result.json").read_text())


def row_of(setting: str, nproc: int, result: dict, reference: dict | None) -> dict:
    losses = [h["train_loss"] for h in result["history"]]
    ref = [h["train_loss"] for h in (reference or result)["history"]]
    train_s = sum(h["train_s"] for h in result["history"])
    return {
        "setting": setting,
        "processes": nproc,
        "global_batch": result["global_batch_size"],
        "train_loss": " / ".join(f"{v:.5f}" for v in losses),
        "max_rel_gap": max(abs(a - b) / abs(b) for a, b in zip(losses, ref)),
        "images_per_s": result["train_samples"] * len(losses) / train_s,
        "test_auc": result["test"]["auc"],
    }


def main(argv: Sequence[str] | None = None) -> list[dict]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    counts = [int(n) for n in split_names(args.nproc)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for setting in split_names(args.settings):
            data = medmnist_dir() / SETTINGS[setting]
            if not data.is_file():
                _logger.warning("skipping %s: %s not found (set $MEDMNIST_DIR)", setting, data)
                continue
            reference = None
            for nproc in counts:
                result = run_once(data, nproc, Path(tmp) / f"{setting}_{nproc}", args)
                rows.append(row_of(setting, nproc, result, reference))
                reference = reference or result
                _logger.info("%s", rows[-1])
    env = env_info(args.device)
    payload = {"env": env, "settings": vars(args) | {"json": str(args.json)}, "rows": rows}
    atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    columns = [(k, k) for k in rows[0]] if rows else []
    table = markdown_table(rows, columns) if rows else "no data found"
    atomic_write_text(args.json.with_suffix(".md"), table + "\n")
    sys.stdout.write(table + "\n")
    return rows


if __name__ == "__main__":
    main()
