"""The shared epoch loop: batches per epoch, and a stop mid-epoch that resumes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hybridnets.engine import Runtime
from hybridnets.engine.loop import Progress, run_epoch, steps_per_epoch
from hybridnets.engine.signals import StopRequest, TrainingStopped


def test_steps_per_epoch_keeps_useful_last_batches_only() -> None:
    assert steps_per_epoch(64, 32, 1) == 2
    assert steps_per_epoch(66, 32, 1) == 3  # a last batch of 2 trains
    assert steps_per_epoch(65, 32, 1) == 2  # a last batch of 1 would break BatchNorm
    assert steps_per_epoch(66, 32, 1, drop_last=True) == 2
    with pytest.raises(ValueError, match="needs at least 2 samples, got 1"):
        steps_per_epoch(1, 32, 1)
    with pytest.raises(ValueError, match="needs at least 32 samples, got 20"):
        steps_per_epoch(20, 32, 1, drop_last=True)


def test_a_stopped_epoch_resumes_with_the_same_batches_and_draws(tmp_path: Path) -> None:
    def draw(gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        return torch.randperm(12, generator=gen).split(4)

    def record(seen: list, gen: torch.Generator):
        def step(batch: torch.Tensor) -> float:
            seen.append((batch.tolist(), torch.rand(1, generator=gen).item()))
            return float(batch.sum())

        return step

    runtime, full = Runtime(torch.device("cpu")), []
    gen = torch.Generator().manual_seed(0)
    loss = run_epoch(Progress(), draw, record(full, gen), gen, StopRequest(), runtime, lambda: None)

    class StopAfterOne(StopRequest):
        def now(self, runtime) -> bool:
            self.signal = "SIGTERM"
            return True

    gen, first, progress = torch.Generator().manual_seed(0), [], Progress()
    with pytest.raises(TrainingStopped, match="in epoch 1 after step 1"):
        run_epoch(progress, draw, record(first, gen), gen, StopAfterOne(), runtime, lambda: None)
    assert progress.step == 1 and progress.epoch_rng is not None
    rest = []
    resumed = run_epoch(
        progress, draw, record(rest, gen), gen, StopRequest(), runtime, lambda: None
    )
    assert first + rest == full and resumed == loss and progress.step == 0
