"""Mixup in the train recipe: the batch blended with itself in reverse order, images and
targets by one weight drawn from the run's generator."""

from __future__ import annotations

import pytest
import torch

from hybridnets.train import TrainConfig
from hybridnets.train.batches import mix_batch


def test_mix_batch_blends_images_and_targets_by_one_weight_from_the_generator() -> None:
    x = torch.randn(6, 1, 5, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    mixed, target = mix_batch(x, y, 3, 0.4, torch.Generator().manual_seed(0))
    lam = target[0, 0].item()  # sample 0 is class 0, its partner (sample 5) class 2
    assert 0 < lam < 1 and target[0, 2].item() == pytest.approx(1 - lam)
    assert torch.allclose(mixed, lam * x + (1 - lam) * x.flip(0))
    one_hot = torch.nn.functional.one_hot(y, 3).float()
    assert torch.allclose(target, lam * one_hot + (1 - lam) * one_hot.flip(0))
    assert torch.allclose(target.sum(1), torch.ones(6))
    again, _ = mix_batch(x, y, 3, 0.4, torch.Generator().manual_seed(0))
    assert torch.equal(again, mixed)  # the draw is the generator's, so a resumed run repeats it
    other, _ = mix_batch(x, y, 3, 0.4, torch.Generator().manual_seed(1))
    assert not torch.equal(other, mixed)


def test_small_alpha_keeps_most_batches_close_to_one_sample() -> None:
    """Beta(a, a) with a < 1 puts its mass near 0 and 1: most blends stay near one image."""
    x, y = torch.randn(4, 1, 3), torch.tensor([0, 1, 0, 1])
    generator = torch.Generator().manual_seed(0)
    lams = torch.tensor([mix_batch(x, y, 2, 0.2, generator)[1][0, 0].item() for _ in range(400)])
    far_from_half = ((lams - 0.5).abs() > 0.4).float().mean().item()
    assert far_from_half > 0.5, far_from_half
    assert 0.4 < lams.mean().item() < 0.6  # symmetric


def test_mixup_with_clinical_columns_is_refused() -> None:
    with pytest.raises(ValueError, match=r"mixup.*clinical columns.*mixup 0"):
        TrainConfig(model="m", data="t.csv", tabular="age", mixup=0.2)
    with pytest.raises(ValueError, match="mixup"):
        TrainConfig(model="m", data="d.npz", mixup=-0.1)
