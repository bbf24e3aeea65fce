"""The one epoch loop: a toy task through the Trainer — history keys, selection of the best
validation epoch, patience, a rival's own best epoch, run_config.json, and a stop mid-epoch
resumed to the same result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from hybridnets.engine import Engine, StopRequest, TrainingStopped, setup_runtime
from hybridnets.engine.config import OptimConfig, RunConfig, SelectConfig
from hybridnets.engine.trainer import TIMING_KEYS, Trainer, TrainerProgress


@dataclass(kw_only=True)
class ToyConfig(RunConfig, OptimConfig, SelectConfig):
    """A toy run.

    Args:
        val_losses: The validation loss each epoch reports (scripted).
        rival_losses: The validation loss of the rival "alt" each epoch (scripted; empty: no
            rival).
    """

    val_losses: tuple[float, ...] = ()
    rival_losses: tuple[float, ...] = ()


class ToyTask:
    """Regress y = 2x with one weight; validation losses are scripted per epoch."""

    def __init__(self, config: ToyConfig) -> None:
        self.config, self.runtime = config, setup_runtime("cpu")
        torch.manual_seed(0)
        self.x = torch.randn(12, 1)
        self.model = nn.Linear(1, 1, bias=False)
        self.steps_per_epoch, self.batch_size, self.name = 3, 4, "toy"
        self.architecture = None  # not checked on resume
        self.rivals = ("alt",) if config.rival_losses else ()
        self.engine = Engine(self.model, self.runtime, lr=0.1, weight_decay=0.0, total_steps=30)
        self.finished: dict[str, Any] = {}

    def batches(self, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        return torch.randperm(12, generator=generator).split(4)

    def step(self, batch: torch.Tensor, generator: torch.Generator) -> float:
        x = self.x[batch]
        return self.engine.step(lambda model: (model(x) - 2 * x).square().mean())

    def validate(self, epoch: int) -> dict[str, float]:
        losses, rival = self.config.val_losses, self.config.rival_losses
        row = {"val_loss": losses[epoch - 1]} if losses else {}
        return row | ({"val_alt_loss": rival[epoch - 1]} if rival else {})

    def finish(self, progress: TrainerProgress, wall_s: float) -> dict[str, Any]:
        weight = self.engine.eval_model.weight.item()
        self.finished = {"weight": weight, "best_epoch": progress.best_epoch, "kept": progress.kept}
        return self.finished | {"history": progress.history}


def _fit(tmp_path: Path, stop: StopRequest | None = None, **kw: Any) -> tuple[ToyTask, dict]:
    config = ToyConfig(out_dir=str(tmp_path), progress=False, **kw)
    task = ToyTask(config)
    trainer = Trainer(task, config, tmp_path / "state.pt")
    result = trainer.fit(torch.Generator().manual_seed(0), stop or StopRequest(), 0.0)
    return task, result


def test_history_rows_share_keys_and_the_run_config_is_written(tmp_path: Path) -> None:
    _, result = _fit(tmp_path, epochs=3)
    assert [set(r) for r in result["history"]] == [{"epoch", "train_loss", *TIMING_KEYS}] * 3
    assert result["history"][-1]["train_loss"] < result["history"][0]["train_loss"]
    saved = json.loads((tmp_path / "run_config.json").read_text())
    assert saved["epochs"] == 3 and saved["select"] == "last"
    assert not (tmp_path / "state.pt").exists()


def test_selection_keeps_the_best_epoch_and_patience_stops(tmp_path: Path) -> None:
    _, last = _fit(tmp_path / "last", epochs=4, val_losses=(0.9, 0.5, 0.7, 0.8))
    _, best = _fit(tmp_path / "best", epochs=4, val_losses=(0.9, 0.5, 0.7, 0.8),
                      select="val_loss")  # fmt: skip
    assert best["best_epoch"] == 2 and best["weight"] != last["weight"]
    _, stopped = _fit(tmp_path / "patience", epochs=4, val_losses=(0.9, 0.5, 0.7, 0.8),
                      select="val_loss", patience=1)  # fmt: skip
    assert len(stopped["history"]) == 3 and stopped["weight"] == best["weight"]


class _StopAfter(StopRequest):
    def __init__(self, steps: int) -> None:
        super().__init__()
        self.asked = 0
        self.steps = steps

    def now(self, runtime) -> bool:
        self.asked += 1
        if self.asked == self.steps:
            self.signal = "SIGTERM"
            return True
        return False


def test_a_stop_mid_epoch_resumes_to_the_same_weights(tmp_path: Path) -> None:
    _, full = _fit(tmp_path / "full", epochs=3)
    with pytest.raises(TrainingStopped, match="in epoch 2 after step 1"):
        _fit(tmp_path / "cut", stop=_StopAfter(3), epochs=3)
    assert (tmp_path / "cut" / "state.pt").is_file()
    _, resumed = _fit(tmp_path / "cut", epochs=3)

    def strip(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in history]

    assert resumed["weight"] == full["weight"]
    assert strip(resumed["history"]) == strip(full["history"])


def test_a_rival_keeps_its_own_best_epoch_and_wins_only_when_better(tmp_path: Path) -> None:
    own = (0.9, 0.5, 0.7, 0.8)
    _, third = _fit(tmp_path / "third", epochs=4, val_losses=(0.9, 0.8, 0.4, 0.6),
                    select="val_loss")  # fmt: skip
    _, rival = _fit(tmp_path / "rival", epochs=4, val_losses=own, rival_losses=(1.0, 0.9, 0.4, 0.6),
                    select="val_loss", patience=1)  # fmt: skip
    # the rival's best (epoch 3, its weights) beats the own best (epoch 2), and its improving
    # epoch 3 is not stale for patience
    assert (rival["kept"], rival["best_epoch"], rival["weight"]) == ("alt", 3, third["weight"])
    assert len(rival["history"]) == 4 and rival["history"][2]["val_alt_loss"] == 0.4
    _, tie = _fit(tmp_path / "tie", epochs=4, val_losses=own, rival_losses=(1.0, 0.5, 0.6, 0.7),
                  select="val_loss")  # fmt: skip
    assert (tie["kept"], tie["best_epoch"]) == ("", 2)  # ties keep the task's own


def test_a_stop_after_a_rivals_best_resumes_to_the_same_choice(tmp_path: Path) -> None:
    kw = {"epochs": 4, "val_losses": (0.9, 0.5, 0.7, 0.8), "rival_losses": (1.0, 0.9, 0.4, 0.6),
          "select": "val_loss"}  # fmt: skip
    _, full = _fit(tmp_path / "full", **kw)
    with pytest.raises(TrainingStopped, match="in epoch 4 after step 1"):
        _fit(tmp_path / "cut", stop=_StopAfter(3 * 2 + 1), **kw)
    _, resumed = _fit(tmp_path / "cut", **kw)
    assert (resumed["kept"], resumed["best_epoch"]) == ("alt", 3)
    assert resumed["weight"] == full["weight"]
