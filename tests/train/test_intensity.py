"""Random contrast and brightness in the train recipe (``intensity``), after the flips and warp."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridnets.train import TrainConfig, train


def test_intensity_learns_the_toy_and_is_recorded(tmp_path: Path, toy_npz) -> None:
    data = toy_npz(2, 24, 256)
    config = TrainConfig(
        model="convvit_test", data=str(data), out_dir=str(tmp_path / "run"), epochs=12,
        intensity=0.3, progress=False, num_threads=1,
    )  # fmt: skip
    result = train(config)
    assert result["config"]["intensity"] == 0.3
    assert result["test"]["acc"] >= 0.85, result["test"]


def test_intensity_reaches_the_training_steps(tmp_path: Path, toy_npz) -> None:
    data = toy_npz(2, 16, 32)
    common = dict(model="convvit_test", data=str(data), epochs=1, batch_size=16, progress=False)
    common["num_threads"] = 1

    def first_loss(intensity: float) -> float:
        config = TrainConfig(**common, intensity=intensity, out_dir=str(tmp_path / f"i{intensity}"))
        return train(config)["history"][0]["train_loss"]

    assert first_loss(0.0) != first_loss(0.3)


def test_intensity_without_augmentation_is_refused() -> None:
    with pytest.raises(ValueError, match=r"intensity.*--no-augment"):
        TrainConfig(model="m", data="d.npz", intensity=0.2, augment=False)
    with pytest.raises(ValueError, match="intensity"):
        TrainConfig(model="m", data="d.npz", intensity=-0.1)
