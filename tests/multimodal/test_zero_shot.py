"""Zero-shot classification from prompt templates on constructed embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hybridnets.multimodal import prompts, zero_shot_accuracy, zero_shot_predict, zero_shot_weights


def _encoder(table: dict[str, torch.Tensor]):
    return lambda texts: torch.stack([table[t] for t in texts])


def test_prompts_fill_every_template_with_every_name() -> None:
    assert prompts(["MR", "MRI"], ["a {} scan.", "{}"]) == [
        "a MR scan.",
        "MR",
        "a MRI scan.",
        "MRI",
    ]
    assert prompts("CT", ["a {} scan."]) == ["a CT scan."]


def test_the_matching_prompt_wins_and_synonyms_are_averaged() -> None:
    axes = torch.eye(4)
    table = {
        "a CT scan.": axes[0] + 0.1 * axes[3],
        "a computed tomography scan.": axes[0] - 0.1 * axes[3],
        "a MR scan.": axes[1],
    }
    weights = zero_shot_weights(
        _encoder(table), [["CT", "computed tomography"], "MR"], ["a {} scan."]
    )
    torch.testing.assert_close(weights, F.normalize(axes[:2], dim=-1))  # the 0.1s cancel
    images = F.normalize(
        torch.tensor([[1.0, 0.2, 0, 0], [0.1, 1.0, 0, 0], [0, 0.9, 0.8, 0]]), dim=-1
    )
    predicted = zero_shot_predict(images, weights)
    assert predicted.tolist() == [0, 1, 1]
    scores = zero_shot_accuracy(predicted, torch.tensor([0, 1, 0]))
    assert scores["acc"] == 2 / 3 and scores["balanced_acc"] == 0.75 and scores["n"] == 3


def test_unknown_labels_are_left_out() -> None:
    scores = zero_shot_accuracy(torch.tensor([0, 1, 1]), torch.tensor([0, -1, 1]))
    assert scores == {"acc": 1.0, "balanced_acc": 1.0, "n": 2}
