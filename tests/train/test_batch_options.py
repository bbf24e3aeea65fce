"""Options that change the training batch (mixup, intensity): each reaches the training steps,
is recorded with the run, and still lets the recipe learn the toy; intensity needs augmentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridnets.train import TrainConfig, train

OPTIONS = [("mixup", 0.4), ("intensity", 0.3)]


@pytest.mark.parametrize(("option", "value"), OPTIONS)
def test_option_learns_the_toy_and_is_recorded(
    option: str, value: float, tmp_path: Path, toy_npz
) -> None:
    data = toy_npz(2, 24, 256)
    config = TrainConfig(
        model="convvit_test", data=str(data), out_dir=str(tmp_path / "run"), epochs=12,
        progress=False, num_threads=1, **{option: value},
    )  # fmt: skip
    result = train(config)
    assert result["config"][option] == value
    assert result["test"]["acc"] >= 0.85, result["test"]


@pytest.mark.parametrize(("option", "value"), OPTIONS)
def test_option_reaches_the_training_steps(
    option: str, value: float, tmp_path: Path, toy_npz
) -> None:
    data = toy_npz(2, 16, 32)
    common = dict(model="convvit_test", data=str(data), epochs=1, batch_size=16, progress=False)
    common["num_threads"] = 1

    def first_loss(v: float) -> float:
        config = TrainConfig(**common, **{option: v}, out_dir=str(tmp_path / f"{option}{v}"))
        return train(config)["history"][0]["train_loss"]

    assert first_loss(0.0) != first_loss(value)


def test_intensity_without_augmentation_is_refused() -> None:
    with pytest.raises(ValueError, match=r"intensity.*--no-augment"):
        TrainConfig(model="m", data="d.npz", intensity=0.2, augment=False)
    with pytest.raises(ValueError, match="intensity"):
        TrainConfig(model="m", data="d.npz", intensity=-0.1)
