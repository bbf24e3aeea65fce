"""Image→text and text→image retrieval: recall at 1/5/10 and median rank.

Captions repeat in medical data (one caption for several images of a case), so the text
gallery holds each distinct caption once (:func:`unique_texts`):

- image→text: an image's rank is that of its caption among all distinct captions;
- text→image: a caption's rank is that of the best-ranked of its images (any image it
  describes is a correct answer), as in COCO/Flickr retrieval with five captions per image.

Ties count against the query (rank = 1 + the number of wrong items scoring at least as high as
the best right one), so a collapsed model that scores everything alike gets the worst ranks.

    texts, index = unique_texts(captions)            # distinct captions, caption of each image
    metrics = retrieval_metrics(img @ txt.T, index)  # img (N, D), txt (T, D)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["RECALL_AT", "rank_metrics", "retrieval_metrics", "unique_texts"]

RECALL_AT = (1, 5, 10)


def unique_texts(texts: Sequence[str]) -> tuple[list[str], Tensor]:
    """Distinct texts in order of first appearance, and the index of each input among them."""
    first: dict[str, int] = {}
    index = [first.setdefault(t, len(first)) for t in texts]
    return list(first), torch.tensor(index, dtype=torch.long)


def rank_metrics(ranks: Tensor) -> dict[str, float]:
    """``R@k`` (fraction of queries ranked within k), median and mean of 1-based ``ranks``."""
    ranks = ranks.double()
    out = {f"R@{k}": (ranks <= k).double().mean().item() for k in RECALL_AT}
    return out | {"median_rank": ranks.median().item(), "mean_rank": ranks.mean().item()}


def _ranks(similarity: Tensor, positive: Tensor) -> Tensor:
    """1-based rank of each row's best positive column; ties count against it."""
    best = similarity.masked_fill(~positive, float("-inf")).amax(1, keepdim=True)  # (Q, 1)
    beaten = (similarity >= best) & ~positive  # wrong items at least as high as the best right
    return beaten.sum(1) + 1


def retrieval_metrics(similarity: Tensor, text_index: Tensor) -> dict[str, dict[str, float]]:
    """Retrieval metrics of both directions.

    Args:
        similarity: ``(N_images, N_texts)`` scores (e.g. cosine similarities).
        text_index: ``(N_images,)`` column of each image's caption.

    Returns:
        ``{"image_to_text": {...}, "text_to_image": {...}}``, each with ``R@1``, ``R@5``,
        ``R@10``, ``median_rank`` and ``mean_rank``; captions without an image are not queries.
    """
    similarity = similarity.float().cpu()
    text_index = text_index.cpu()
    n_images, n_texts = similarity.shape
    if text_index.shape != (n_images,) or int(text_index.max()) >= n_texts:
        raise ValueError(
            f"text_index needs one caption column < {n_texts} per image ({n_images}), "
            f"got shape {tuple(text_index.shape)}"
        )
    positive = text_index[:, None] == torch.arange(n_texts)[None, :]  # (N_images, N_texts)
    described = positive.any(0)  # captions with at least one image
    return {
        "image_to_text": rank_metrics(_ranks(similarity, positive)),
        "text_to_image": rank_metrics(_ranks(similarity.T[described], positive.T[described])),
    }
