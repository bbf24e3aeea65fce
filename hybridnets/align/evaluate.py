"""What an aligned model is scored by: retrieval both ways and zero-shot accuracy per task.

Every process scores the whole split (a few hundred pairs: cheaper than gathering), so all
ranks agree on the numbers; only rank 0 writes them.

    scores = evaluate_pairs(model, test_pairs, prepare, device, classes={"modality": ["CT", "MR"]})
    scores = score_aligned("runs/align/aligned", "/data/medpix2")   # a saved model, test split
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hybridnets.align.prompts import ZeroShotTask, task_for
from hybridnets.data.in_memory import channel_stat, standardize
from hybridnets.data.pairs import ImageTextPairs, load_pairs
from hybridnets.multimodal import (
    ImageTextModel,
    clip_loss,
    retrieval_metrics,
    unique_texts,
    zero_shot_accuracy,
    zero_shot_predict,
    zero_shot_weights,
)

__all__ = [
    "embed_images",
    "embed_texts",
    "evaluate_pairs",
    "load_for_scoring",
    "score_aligned",
    "zero_shot_classes",
    "zero_shot_scores",
]

_CHUNK = 64


@torch.no_grad()
def embed_images(
    model: ImageTextModel,
    pairs: ImageTextPairs,
    prepare: Callable[[Tensor], Tensor],
    device: torch.device,
) -> Tensor:
    """Normalised embeddings ``(N, D)`` of every image of ``pairs``, each batch passed through
    ``prepare`` (the run's standardisation: ``train.standardize``, or what
    :func:`load_for_scoring` returns) on its way in (model in eval mode)."""
    model.eval()
    index = torch.arange(len(pairs))
    out = [model.encode_image(prepare(pairs.batch(i, device))).float() for i in index.split(_CHUNK)]
    return torch.cat(out)


@torch.no_grad()
def embed_texts(model: ImageTextModel, texts: Sequence[str]) -> Tensor:
    """Normalised embeddings ``(T, D)`` of ``texts`` (model in eval mode)."""
    model.eval()
    texts = list(texts)
    chunks = [texts[i : i + _CHUNK] for i in range(0, len(texts), _CHUNK)]
    return torch.cat([model.encode_text(chunk).float() for chunk in chunks])


def zero_shot_classes(*splits: ImageTextPairs | None) -> dict[str, list[str]]:
    """Per task: the source's own class list, else every class name seen in the splits."""
    classes: dict[str, list[str]] = {}
    present = [s for s in splits if s is not None]
    for task in sorted({t for s in present for t in s.labels}):
        fixed = next((s.classes[task] for s in present if task in s.classes), None)
        seen = {v for s in present for v in s.labels.get(task, []) if v is not None}
        classes[task] = list(fixed) if fixed else sorted(seen)
    return classes


def evaluate_pairs(
    model: ImageTextModel,
    pairs: ImageTextPairs,
    prepare: Callable[[Tensor], Tensor],
    device: torch.device,
    classes: Mapping[str, list[str]],
    autocast: AbstractContextManager | None = None,
) -> dict[str, Any]:
    """Retrieval (both directions, captions deduplicated), the contrastive loss over the whole
    split and zero-shot accuracy for each task in ``classes`` (task → class names).

    Returns:
        ``{"image_to_text": {...}, "text_to_image": {...}, "loss": float,
        "zero_shot": {task: {"acc", "balanced_acc", "n"}}}``.
    """
    with autocast or nullcontext():
        images = embed_images(model, pairs, prepare, device)
        texts, index = unique_texts(pairs.texts)
        captions = embed_texts(model, texts)
        result: dict[str, Any] = retrieval_metrics(images @ captions.T, index)
        with torch.no_grad():
            scale, ids = model.scale.float(), index.to(images.device)
            result["loss"] = clip_loss(images, captions[ids], scale, gather=False).item()
        encode = partial(embed_texts, model)
        zero_shot = {
            task: zero_shot_scores(images, pairs, task, names, encode, task_for(task))
            for task, names in classes.items()
        }
    result["zero_shot"] = zero_shot
    return result


def zero_shot_scores(
    images: Tensor,
    pairs: ImageTextPairs,
    task: str,
    classes: Sequence[str],
    encode_text: Callable[[list[str]], Tensor],
    prompts: ZeroShotTask,
) -> dict[str, float]:
    """Zero-shot accuracy and balanced accuracy on ``task`` of the image embeddings ``images``
    of ``pairs``: one class vector per name of ``classes`` from ``prompts``' names and
    templates, each text embedded by ``encode_text``."""
    weights = zero_shot_weights(encode_text, prompts.classnames(list(classes)), prompts.templates)
    predicted = zero_shot_predict(images, weights)
    return zero_shot_accuracy(predicted, pairs.label_index(task, classes))


def score_aligned(
    folder: str | Path,
    data: str | Path,
    split: str | None = "test",
    device: str | torch.device = "cpu",
    **columns: str,
) -> dict[str, Any]:
    """Score a model saved by the alignment recipe (its ``aligned/`` folder) on the pairs of
    ``split`` of ``data`` (a MedPix 2.0 folder, or a CSV/JSONL table: None reads every row;
    ``columns``: ``image_col``, ``text_col``, ``label_col``), with the recipe's input
    size and standardisation and the current prompts: what :func:`evaluate_pairs` returns.
    """
    model, pairs, prepare = load_for_scoring(folder, data, split, device, **columns)
    classes = zero_shot_classes(pairs)
    return evaluate_pairs(model, pairs, prepare, torch.device(device), classes)


def load_for_scoring(
    folder: str | Path,
    data: str | Path,
    split: str | None = "test",
    device: str | torch.device = "cpu",
    **columns: str,
) -> tuple[ImageTextModel, ImageTextPairs, Callable[[Tensor], Tensor]]:
    """A saved aligned model (on ``device``), the pairs of ``split`` read at its recipe's input
    size, and the recipe's standardisation: what scoring them needs (see :func:`score_aligned`)."""
    from hybridnets.checkpoint.aligned import load_aligned

    model, recipe = load_aligned(folder)
    model.to(device)
    pairs = load_pairs(data, split, recipe["in_chans"], recipe["input_size"], **columns)
    mean, std = (channel_stat(recipe[k], pairs.spatial_dims).to(device) for k in ("mean", "std"))
    return model, pairs, partial(standardize, mean=mean, std=std)
