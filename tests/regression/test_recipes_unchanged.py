"""Regression guard: fixed recipe commands on fixed synthetic data give the recorded results.

Each case runs one command line as a user would (``python -m hybridnets.<recipe> …`` from the
repository root, one thread) on data written here from a fixed seed, then compares:

- every number in the run's ``result.json`` that is a result, not a timing or a setting, and
- a digest of every tensor the run saved (safetensors files under ``--out``), independent of
  tensor names, key order and file layout, so a new checkpoint format with the same numbers
  still matches.

The recipes are bit-deterministic on one CPU, so on the CPU the record was made on (same
``torch.backends.cpu.get_cpu_capability()``) the match is exact; on another CPU kind the digest is
not compared and results must agree to 0.1 % (or 1e-4 near zero): another vector width sums in
another order, and training carries those last-bit differences on (``align_lit``'s test loss,
recorded on AVX512, is 1.81969 on AVX2 against 1.81983).

Re-record only when a change is meant to alter results, and say which in the commit:

    HYBRIDNETS_RECORD=1 .venv/bin/python -m pytest tests/regression -p no:cacheprovider
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
RECORDED = Path(__file__).parent / "recorded"
RECORD = os.environ.get("HYBRIDNETS_RECORD") == "1"
# result.json keys that describe time, throughput or the run's own settings, not its results
NOT_RESULTS = ("config", "time", "_s", "per_s", "seconds", "wall", "elapsed", "path", "dir")
COMMON = ["--num-threads", "1", "--no-progress", "--seed", "0"]


def _write_npz(path: Path, spatial_dims: int, size: int, n: int) -> Path:
    """Noise with a bright block in class-1 images, uint8, train/val/test of ``n`` each."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "val", "test"):
        labels = np.arange(n) % 2
        images = rng.integers(0, 90, (n, *[size] * spatial_dims), dtype=np.uint8)
        block = (labels == 1, *[slice(size // 4, size // 2)] * spatial_dims)
        images[block] += 120
        arrays |= {f"{split}_images": images, f"{split}_labels": labels[:, None].astype(np.uint8)}
    np.savez(path, **arrays)
    return path


def _write_table(folder: Path, n: int = 48, size: int = 16) -> Path:
    """A CSV of grey PNGs with age, sex and a patient column; the label shows in the image."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (folder / "img").mkdir(parents=True)
    lines = ["image,label,age,sex,patient"]
    for i in range(n):
        label = i % 2
        x = rng.normal(60, 10, (size, size))
        x[4:10, 4:10] += 100 * label
        Image.fromarray(np.clip(x, 0, 255).astype(np.uint8)).save(folder / f"img/{i}.png")
        age = "" if i % 7 == 0 else str(40 + (i * 7) % 30)
        lines.append(f"img/{i}.png,{'ab'[label]},{age},{'MF'[(i // 3) % 2]},p{i // 2}")
    (folder / "table.csv").write_text("\n".join(lines) + "\n")
    return folder / "table.csv"


def _train_npz(spatial_dims: int, size: int) -> Callable[[Path, Path], list[str]]:
    def argv(data: Path, text_model: Path) -> list[str]:
        npz = _write_npz(data / f"toy{spatial_dims}d.npz", spatial_dims, size, n=12)
        return ["hybridnets.train", "--model", "convvit_test", "--data", str(npz),
                "--epochs", "2", "--batch-size", "4", "--select", "val_loss_auc"]  # fmt: skip

    return argv


def _train_table(data: Path, text_model: Path) -> list[str]:
    table = _write_table(data)
    return ["hybridnets.train", "--model", "convvit_test", "--data", str(table),
            "--group-col", "patient", "--tabular", "age,sex", "--fusion", "cross",
            "--input-size", "16", "--epochs", "2", "--batch-size", "8"]  # fmt: skip


def _pretrain(objective: str) -> Callable[[Path, Path], list[str]]:
    def argv(data: Path, text_model: Path) -> list[str]:
        npz = _write_npz(data / "toy.npz", 2, 16, n=12)
        return ["hybridnets.pretrain", "--model", "convvit_test", "--data", str(npz),
                "--objective", objective, "--epochs", "2", "--batch-size", "6",
                "--decoder-dim", "16", "--proj-dim", "16"]  # fmt: skip

    return argv


def _align_lit(data: Path, text_model: Path) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(0)
    (data / "img").mkdir(parents=True)
    lines = ["image,text,label,split"]
    words = ("bright square", "dark circle", "bright cross")
    for i in range(18):
        x = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(x).save(data / f"img/{i}.png")
        split = ("train", "train", "test")[i % 3]
        lines.append(f"img/{i}.png,a {words[i % 3]},{i % 3},{split}")
    (data / "pairs.csv").write_text("\n".join(lines) + "\n")
    return ["hybridnets.align", "--model", "convvit_test", "--data", str(data / "pairs.csv"),
            "--text-model", str(text_model), "--input-size", "16", "--embed-dim", "16",
            "--epochs", "2", "--batch-size", "6"]  # fmt: skip


CASES: dict[str, Callable[[Path, Path], list[str]]] = {
    "train_npz_2d": _train_npz(2, 16),
    "train_npz_3d": _train_npz(3, 16),
    "train_table_fusion_cross": _train_table,
    "pretrain_mim": _pretrain("mim"),
    "pretrain_contrastive": _pretrain("contrastive"),
    "align_lit": _align_lit,
}


def _results(result: dict, prefix: str = "") -> dict[str, float]:
    """The numeric leaves of ``result.json`` that are results (``a.b.0.c`` paths)."""
    out = {}
    items = result.items() if isinstance(result, dict) else enumerate(result)
    for key, value in items:
        path = f"{prefix}{key}"
        if any(word in str(key) for word in NOT_RESULTS):
            continue
        if isinstance(value, dict | list):
            out |= _results(value, path + ".")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[path] = float(value)
    return out


def _weights_digest(folder: Path) -> tuple[str, int]:
    """sha256 over the sorted per-tensor digests (dtype, shape, bytes) of every safetensors
    file under ``folder``: blind to names and layout, not to a single changed bit."""
    from safetensors.torch import load_file

    digests = []
    for file in sorted(folder.rglob("*.safetensors")):
        for tensor in load_file(file).values():
            data = tensor.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()
            head = f"{tensor.dtype}{tuple(tensor.shape)}".encode()
            digests.append(hashlib.sha256(head + data).hexdigest())
    return hashlib.sha256("".join(sorted(digests)).encode()).hexdigest(), len(digests)


def _run(case: str, tmp_path: Path, text_model: Path) -> dict:
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    module, *argv = CASES[case](data, text_model)
    env = os.environ | {"CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}
    env.pop("TRITON_INTERPRET", None)
    command = [sys.executable, "-m", module, *argv, "--out", str(out), *COMMON]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, f"{' '.join(command)}\n{run.stderr[-3000:]}"
    digest, tensors = _weights_digest(out)
    return {
        "command": " ".join(["python", "-m", module, *argv])
        .replace(str(data), "<data>")
        .replace(str(text_model), "<text_model>"),
        "cpu": torch.backends.cpu.get_cpu_capability(),
        "results": _results(json.loads((out / "result.json").read_text())),
        "weights_sha256": digest,
        "tensors": tensors,
    }


@pytest.mark.parametrize("case", list(CASES))
def test_recipe_gives_the_recorded_results(case: str, tmp_path: Path, tiny_text_model: Path):
    got = _run(case, tmp_path, tiny_text_model)
    file = RECORDED / f"{case}.json"
    if RECORD:
        RECORDED.mkdir(exist_ok=True)
        file.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"recorded {file.name}")
    assert file.is_file(), f"nothing recorded for {case}; see this module's docstring"
    want = json.loads(file.read_text())
    missing = sorted(set(want["results"]) - set(got["results"]))
    assert not missing, f"result.json no longer reports {missing}"
    same_cpu = got["cpu"] == want["cpu"]
    changed = {
        key: (value, got["results"][key])
        for key, value in want["results"].items()
        if not (
            value == got["results"][key]
            or (math.isnan(value) and math.isnan(got["results"][key]))
            or (
                not same_cpu
                and math.isclose(value, got["results"][key], rel_tol=1e-3, abs_tol=1e-4)
            )
        )
    }
    assert not changed, f"{case}: results changed (recorded, now): {changed}"
    assert got["tensors"] == want["tensors"], "a different number of tensors was saved"
    if same_cpu:
        assert got["weights_sha256"] == want["weights_sha256"], f"{case}: saved weights changed"
