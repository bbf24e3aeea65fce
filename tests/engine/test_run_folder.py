"""A run's folder is held by one run, a finished run is not overwritten without asking, and a
user error on the command line is one line on stderr with exit status 2 (no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybridnets.engine.outputs import FinishedRunError, RunLockedError, run_lock
from hybridnets.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]


def _cli(*argv: str) -> subprocess.CompletedProcess:
    env = os.environ | {"CUDA_VISIBLE_DEVICES": ""}
    env.pop("HYBRIDNETS_DEBUG", None)
    command = [sys.executable, "-m", "hybridnets.train", *argv, "--no-progress"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)


def test_a_second_run_into_a_held_folder_is_refused_with_the_holders_pid(tmp_path, patch_toy):
    data = patch_toy(tmp_path / "toy.npz", n_train=8, n_eval=6)
    out = tmp_path / "run"
    with run_lock(out):  # this process plays the live first run
        busy = rf"in use by another run \(PID {os.getpid()}\)"
        with pytest.raises(RunLockedError, match=busy), run_lock(out):
            pass
        second = _cli("--model", "convvit_test", "--data", str(data), "--out", str(out))
    assert second.returncode == 2, second.stderr
    assert f"PID {os.getpid()}" in second.stderr and "Traceback" not in second.stderr
    assert not (out / "result.json").exists()


def test_a_finished_run_is_not_overwritten_unless_asked(tmp_path, patch_toy):
    data = patch_toy(tmp_path / "toy.npz", n_train=8, n_eval=6)
    config = dict(model="convvit_test", data=str(data), epochs=1, batch_size=4,
                  out_dir=str(tmp_path / "run"), progress=False)  # fmt: skip
    first = train(TrainConfig(**config))
    with pytest.raises(FinishedRunError, match=r"holds a finished run.*`overwrite=True`"):
        train(TrainConfig(**config))
    again = train(TrainConfig(**config, overwrite=True))
    assert again["test"] == first["test"]


def test_user_errors_print_one_line_and_exit_2(tmp_path):
    missing = _cli("--model", "convvit_test", "--data", str(tmp_path / "nowhere.npz"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "error: " in missing.stderr and "nowhere.npz" in missing.stderr
    finished = tmp_path / "done"
    finished.mkdir()
    (finished / "result.json").write_text("{}")
    again = _cli("--model", "convvit_test", "--data", "x.npz", "--out", str(finished))
    assert again.returncode == 2 and "set --overwrite to train again" in again.stderr
    bad_option = _cli("--model", "convvit_test", "--data", "x.npz", "--batch-size", "0")
    assert bad_option.returncode == 2 and "batch_size must be at least 1" in bad_option.stderr
    assert "Traceback" not in bad_option.stderr


def test_cli_errors_name_flags_where_the_library_names_fields() -> None:
    from hybridnets.engine.cli import to_flags

    message = "choose another `out_dir`, set `resume=False` or `ema_decay=None`; `nothing` stays"
    assert to_flags(message, TrainConfig) == (
        "choose another --out, set --no-resume or --ema-decay none; `nothing` stays"
    )
    assert to_flags("set `overwrite=True`", TrainConfig) == "set --overwrite"
