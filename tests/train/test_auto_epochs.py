"""Epochs derived from the training-set size when ``epochs`` is not given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridnets.train import TrainConfig, batches, train
from hybridnets.train.__main__ import parse_args
from hybridnets.train.batches import auto_epochs


@pytest.mark.parametrize(
    ("n_train", "epochs"),
    [(1, 100), (500, 100), (546, 92), (1080, 47), (2000, 25), (4708, 11), (5000, 10), (10**6, 10)],
)
def test_auto_epochs_shows_fifty_thousand_samples_within_bounds(n_train, epochs) -> None:
    assert auto_epochs(n_train) == epochs


def test_epochs_default_is_derived_and_help_states_the_rule() -> None:
    assert TrainConfig(model="m", data="d.npz").epochs is None
    assert parse_args(["--model", "m", "--data", "d.npz"]).epochs is None
    assert parse_args(["--model", "m", "--data", "d.npz", "--epochs", "7"]).epochs == 7
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(model="m", data="d.npz", epochs=0)


def test_a_run_without_epochs_trains_and_records_the_derived_number(
    toy_npz, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(batches, "AUTO_SAMPLES", 96)
    monkeypatch.setattr(batches, "AUTO_EPOCHS", (1, 5))
    data = toy_npz(2, 16, n_train=48, n_eval=16)  # 96 / 48 samples: 2 epochs
    out = tmp_path / "run"
    config = TrainConfig(
        model="convvit_test", data=str(data), out_dir=str(out), batch_size=16, progress=False
    )
    result = train(config)
    assert result["epochs_run"] == 2 and result["config"]["epochs"] == 2
    assert json.loads((out / "run_config.json").read_text())["epochs"] == 2
    assert json.loads((out / "result.json").read_text())["config"]["epochs"] == 2
