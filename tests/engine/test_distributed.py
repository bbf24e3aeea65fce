"""The recipe under ``torchrun --nproc_per_node 2`` (gloo on CPU, 127.0.0.1) takes the same
steps as one process with the same global batch and seed, and gathers exact metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hybridnets.engine import Runtime, batch_part, gather_rows, shard_index


def _train(args: list[str], out: Path, nproc: int) -> dict:
    """``python -m hybridnets.train ARGS --out OUT`` in one process or under torchrun."""
    launcher = [sys.executable, "-m", "hybridnets.train"]
    if nproc > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        launcher += ["--nproc_per_node", str(nproc), "-m", "hybridnets.train"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [*launcher, *args, "--out", str(out)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


def _train_cli(out: Path, data: Path, nproc: int, extra: tuple[str, ...] = ()) -> dict:
    args = ["--model", "test_vit", "--data", str(data), "--epochs", "2", *extra]
    args += ["--batch-size", "8", "--num-threads", "1", "--no-progress"]
    args += ["--model-kwargs", '{"img_size": 16, "patch_size": 4}']
    return _train(args, out, nproc)


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("--fsdp", "--ema-decay", "none"),
        # the state is saved straight after an evaluation forward (no best weights gathered in
        # between), which leaves FSDP2's root unsharded: saving used to fail
        ("--fsdp", "--ema-decay", "none", "--select", "last"),
        ("--mixup", "0.4"),  # every rank draws the global batch's blend, then takes its part
    ],
    ids=["ddp_ema", "fsdp", "fsdp_select_last", "ddp_mixup"],
)
def test_two_processes_take_the_same_steps_as_one(tmp_path: Path, extra: tuple, patch_toy) -> None:
    data = patch_toy(tmp_path / "toy.npz")  # 29 samples, global batch 8: last batch 5 → 3 + 2
    one = _train_cli(tmp_path / "one", data, nproc=1, extra=extra)  # --fsdp: no-op in 1 process
    two = _train_cli(tmp_path / "two", data, nproc=2, extra=extra)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["global_batch_size"] == two["global_batch_size"] == 8
    for a, b in zip(one["history"], two["history"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)
        assert b["val_auc"] == pytest.approx(a["val_auc"], abs=1e-9)  # gathered, not averaged
    assert two["test"]["auc"] == pytest.approx(one["test"]["auc"], abs=1e-9)
    w1 = load_file(str(tmp_path / "one" / "best" / "model.safetensors"))
    w2 = load_file(str(tmp_path / "two" / "best" / "model.safetensors"))
    assert w1.keys() == w2.keys()
    for key in w1:
        a, b = w1[key], w2[key]
        if key.endswith("qkv.bias"):  # drop the key bias: its gradient is 0 but for rounding
            a, b = (torch.cat([t[: len(t) // 3], t[2 * len(t) // 3 :]]) for t in (a, b))
        torch.testing.assert_close(b, a, rtol=1e-4, atol=5e-5, msg=key)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "best",
        "result.json",
        "run_config.json",
    ]


def test_two_processes_make_the_fusion_fallbacks_choice_of_one(
    tmp_path: Path, shortcut_table: Callable[[Path], Path]
) -> None:
    """A table that misleads on validation, with one categorical column and no numeric one
    (whose empty parameters once stopped DDP at the second step): under torchrun the run takes
    the same steps as one process and keeps the image path at its own best epoch (the fused
    model's is the first) as one process does."""
    table = shortcut_table(tmp_path)
    args = ["--model", "test_vit", "--model-kwargs", '{"img_size": 16, "patch_size": 4}']
    args += ["--data", str(table), "--image-col", "path"]
    args += ["--label-col", "label", "--split-col", "split", "--tabular", "flag"]
    args += ["--input-size", "16", "--epochs", "12", "--lr", "3e-3", "--batch-size", "16"]
    args += ["--ema-decay", "none", "--no-augment", "--warmup-epochs", "1"]
    args += ["--num-threads", "1", "--no-progress"]
    one, two = (_train(args, tmp_path / f"p{n}", n) for n in (1, 2))
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["table_used"] is False and two["table_used"] is False
    for a, b in zip(one["history"], two["history"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["val_image_auc"] == pytest.approx(a["val_image_auc"], abs=1e-9)
    image = [r["val_image_loss_auc"] for r in two["history"]]
    assert two["best_epoch"] == one["best_epoch"] == 1 + image.index(min(image)) > 1
    assert two["test"]["auc"] == pytest.approx(one["test"]["auc"], abs=1e-6)


@pytest.mark.parametrize(("n", "world"), [(8, 2), (5, 2), (7, 3), (2, 2)])
def test_batch_parts_cover_the_batch_once(n: int, world: int) -> None:
    parts = [batch_part(n, Runtime(torch.device("cpu"), r, world)) for r in range(world)]
    covered = [i for p in parts for i in range(n)[p]]
    assert covered == list(range(n))
    assert max(p.stop - p.start for p in parts) - min(p.stop - p.start for p in parts) <= 1


@pytest.mark.parametrize(("n", "world"), [(21, 2), (20, 2), (5, 3)])
def test_shard_index_is_equal_length_and_gathers_in_order(n: int, world: int) -> None:
    shards = [shard_index(n, Runtime(torch.device("cpu"), r, world)) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # the same number of forwards on every rank
    assert torch.cat(shards)[:n].tolist() == list(range(n))
    rows = torch.arange(n)[:, None].float()
    assert torch.equal(gather_rows(rows, n, Runtime(torch.device("cpu"))), rows)


def test_two_process_metrics_describe_the_saved_weights(tmp_path: Path, patch_toy) -> None:
    """Each rank's EMA copy used to keep its own BatchNorm statistics, so result.json scored
    other weights than rank 0 saved; the saved best/ must give result.json's metrics."""
    import numpy as np

    import hybridnets

    data = patch_toy(tmp_path / "toy.npz")
    args = ["--model", "convvit_test", "--data", str(data), "--out", str(tmp_path / "two")]
    args += ["--epochs", "2", "--batch-size", "8", "--num-threads", "1", "--no-progress"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    launcher += ["--nproc_per_node", "2", "-m", "hybridnets.train"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launcher, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "two" / "result.json").read_text())
    preds = hybridnets.load(tmp_path / "two" / "best").predict(data, device="cpu")
    np.testing.assert_equal(preds.metrics(), result["test"])
