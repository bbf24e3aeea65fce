"""Retrieval metrics on constructed similarity matrices, shared captions and ties included."""

from __future__ import annotations

import pytest
import torch

from hybridnets.multimodal import rank_metrics, retrieval_metrics, unique_texts


def test_unique_texts_keeps_first_appearance_order() -> None:
    texts, index = unique_texts(["b", "a", "b", "c", "a"])
    assert texts == ["b", "a", "c"] and index.tolist() == [0, 1, 0, 2, 1]


def test_ranks_of_a_constructed_matrix() -> None:
    # 4 images, 3 captions; images 0 and 1 share caption 0
    similarity = torch.tensor(
        [
            [0.9, 0.1, 0.0],  # caption 0 first: rank 1
            [0.2, 0.8, 0.1],  # caption 0 second: rank 2
            [0.0, 0.1, 0.9],  # its caption 1 is second: rank 2
            [0.3, 0.2, 0.1],  # caption 2 last: rank 3
        ]
    )
    metrics = retrieval_metrics(similarity, torch.tensor([0, 0, 1, 2]))
    i2t = metrics["image_to_text"]
    assert i2t["R@1"] == 0.25 and i2t["R@5"] == 1.0 and i2t["median_rank"] == 2.0
    assert i2t["mean_rank"] == pytest.approx((1 + 2 + 2 + 3) / 4)
    # columns: caption 0's best image (0, 0.9) is first; caption 1's image 2 (0.1) is beaten
    # by images 1, 3 and tied with 0: rank 4; caption 2's image 3 (0.1): beaten by 2, tied
    # with 1: rank 3
    t2i = metrics["text_to_image"]
    assert t2i["R@1"] == pytest.approx(1 / 3) and t2i["median_rank"] == 3
    assert t2i["mean_rank"] == pytest.approx(8 / 3)


def test_ties_count_against_the_query_and_captions_without_images_are_skipped() -> None:
    metrics = retrieval_metrics(torch.zeros(3, 4), torch.tensor([0, 1, 2]))
    assert metrics["image_to_text"]["R@1"] == 0.0 and metrics["image_to_text"]["median_rank"] == 4
    assert metrics["text_to_image"]["median_rank"] == 3  # 3 queries: caption 3 has no image


def test_perfect_retrieval_and_recall_at_k() -> None:
    metrics = retrieval_metrics(torch.eye(12), torch.arange(12))
    assert all(metrics[d]["R@1"] == 1.0 for d in metrics)
    assert rank_metrics(torch.tensor([1, 6, 11, 3]))["R@5"] == 0.5
    with pytest.raises(ValueError, match="one caption column"):
        retrieval_metrics(torch.eye(3), torch.tensor([0, 1]))
