"""The recipe starts the classifier's bias at the (label-smoothed) log class prior."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hybridnets.checkpoint import load_trained
from hybridnets.resolve import create_model
from hybridnets.train import TrainConfig, train
from hybridnets.train.batches import prior_logits
from hybridnets.train.models import classifier_of

_COUNTS = (24, 6, 2)  # an imbalanced three-class training split


def _imbalanced(path: Path) -> Path:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), _COUNTS).astype(np.uint8)[:, None]
    images = rng.integers(0, 255, (len(labels), 16, 16), dtype=np.uint8)
    splits = ("train", "val", "test")
    np.savez(
        path, **{f"{s}_images": images for s in splits}, **{f"{s}_labels": labels for s in splits}
    )
    return path


def test_prior_logits_are_the_best_constant_prediction_under_label_smoothing() -> None:
    labels = torch.tensor([0] * 89 + [1] * 11)
    logits = prior_logits(labels, 2, 0.1)
    probs = logits.softmax(0)
    assert probs[1].item() == pytest.approx(0.9 * 0.11 + 0.05, abs=1e-6)
    assert logits.sum().item() == pytest.approx(0.0, abs=1e-6)  # centred
    # an absent class gets the smoothing share without it, a finite floor with none
    assert prior_logits(torch.tensor([0, 0, 1]), 3, 0.0).isfinite().all()
    assert prior_logits(torch.tensor([0, 0, 1]), 3, 0.3).softmax(0)[2] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("prior_bias", "class_balance", "lora_rank", "expect_prior"),
    [
        (True, "none", None, True),
        (True, "none", 2, True),  # set before the LoRA wrapping copies the classifier
        (False, "none", None, False),
        (True, "loss", None, False),
    ],
)
def test_recipe_sets_the_classifier_bias_from_the_training_labels(
    tmp_path: Path, prior_bias: bool, class_balance: str, lora_rank: int | None, expect_prior: bool
) -> None:
    data = _imbalanced(tmp_path / "imbalanced.npz")
    config = TrainConfig(
        model="convvit_test",
        data=str(data),
        out_dir=str(tmp_path / "run"),
        epochs=1,
        batch_size=16,
        lr=0.0,  # nothing moves: the saved bias is the starting one
        prior_bias=prior_bias,
        class_balance=class_balance,
        lora_rank=lora_rank,
        progress=False,
    )
    model, _ = load_trained(train(config)["checkpoint"])
    bias = classifier_of(model).bias.detach()
    prior = prior_logits(torch.repeat_interleave(torch.arange(3), torch.tensor(_COUNTS)), 3, 0.1)
    if expect_prior:
        torch.testing.assert_close(bias, prior)
        assert bias.softmax(0)[0].item() == pytest.approx(0.9 * 24 / 32 + 0.1 / 3, abs=1e-6)
    else:
        assert bias.abs().max().item() == 0.0  # as built
        assert prior[0] - prior[2] > 2  # which the prior would have changed


@pytest.mark.parametrize(
    ("name", "dims"), [("convvit_test", 2), ("resnet18", 2), ("monai_resnet18", 3)]
)
def test_every_family_exposes_its_linear_classifier(name: str, dims: int) -> None:
    model = create_model(name, dims, 1, 4)
    head = classifier_of(model)
    assert isinstance(head, torch.nn.Linear) and head.out_features == 4
    assert classifier_of(torch.nn.Conv2d(1, 1, 1)) is None


@pytest.mark.parametrize("fusion", ["late", "cross", "coattn"])
def test_fusion_classifiers_expose_their_last_layer(fusion: str) -> None:
    from hybridnets.data.tabular import TabularPreprocessor
    from hybridnets.multimodal import FusionClassifier

    pre = TabularPreprocessor(["age"], ["sex"]).fit([{"age": "41", "sex": "male"}])
    model = FusionClassifier("convvit_test", 2, 1, 3, pre, fusion=fusion, dim=16)
    head = classifier_of(model)
    assert isinstance(head, torch.nn.Linear) and head.out_features == 3
    with torch.no_grad():  # it is the layer that makes the logits: its bias shifts them
        head.bias.fill_(0.0)
        x, tab = torch.randn(2, 1, 32, 32), pre.transform([{"age": "50", "sex": "male"}] * 2)
        before = model.eval()(x, *tab)
        head.bias.copy_(torch.tensor([1.0, 2.0, 3.0]))
        torch.testing.assert_close(model(x, *tab) - before, torch.tensor([[1.0, 2.0, 3.0]] * 2))
