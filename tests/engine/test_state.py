"""Training state on disk: atomic (an interrupted write keeps the previous state), safe to read."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hybridnets.engine import load_state, save_state
from hybridnets.engine import state as state_module


def test_round_trip_of_nested_tensors_and_numbers(tmp_path: Path) -> None:
    state = {"engine": {"model": {"w": torch.arange(3.0)}, "steps": 7}, "config": "{}"}
    loaded = load_state(save_state(tmp_path / "state.pt", state))
    assert torch.equal(loaded["engine"]["model"]["w"], torch.arange(3.0))
    assert loaded["engine"]["steps"] == 7 and loaded["config"] == "{}"


def test_interrupted_write_keeps_the_previous_state(tmp_path: Path, monkeypatch) -> None:
    path = save_state(tmp_path / "state.pt", {"epoch": torch.tensor(1)})

    def crash_midway(obj, f) -> None:
        Path(f).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(state_module.torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        save_state(path, {"epoch": torch.tensor(2)})
    assert load_state(path)["epoch"].item() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no temporary left behind


def test_refuses_pickled_code(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    torch.save({"fn": print}, path)  # a pickle that would resolve a callable
    with pytest.raises(ValueError, match="cannot read training state"):
        load_state(path)
