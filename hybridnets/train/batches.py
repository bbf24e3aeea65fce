"""Which samples a run trains on, in what order, and with which class weights.

index = stratified_subset(labels, 500, generator)      # the small-data regime
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "AUTO_EPOCHS",
    "AUTO_SAMPLES",
    "auto_epochs",
    "class_weights",
    "epoch_order",
    "mix_batch",
    "prior_logits",
    "stratified_subset",
]

AUTO_SAMPLES = 50_000
"""Training samples a run shows the model when ``epochs`` is not given."""
AUTO_EPOCHS = (10, 100)
"""The fewest and the most epochs :func:`auto_epochs` gives."""


def auto_epochs(n_train: int) -> int:
    """Epochs for ``n_train`` training samples when none are given: enough to show the model
    :data:`AUTO_SAMPLES` samples, within :data:`AUTO_EPOCHS` (500 samples: 100 epochs, 1,080:
    47, 4,708: 11, 10,000 or more: 10). A few hundred labels need many passes; a large set
    gets there in a few (benchmarks/results/small_data.md, issue 32)."""
    low, high = AUTO_EPOCHS
    return min(high, max(low, -(-AUTO_SAMPLES // max(n_train, 1))))


def stratified_subset(labels: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of a random subset of ``n`` samples with the class proportions of ``labels``."""
    if n >= len(labels):
        return torch.randperm(len(labels), generator=generator)
    classes, counts = labels.unique(return_counts=True)
    quota = (counts.double() * n / len(labels)).floor().long().clamp_min(1)
    quota[(counts.double() * n / len(labels) - quota).argmax()] += n - quota.sum()
    picks = []
    for c, q in zip(classes, quota):
        members = torch.nonzero(labels == c).flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[:q]])
    index = torch.cat(picks)
    return index[torch.randperm(len(index), generator=generator)]


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``N / (K · n_k)`` per class (1 for a balanced set); absent classes get 0."""
    counts = torch.bincount(labels, minlength=num_classes).double()
    weights = len(labels) / (num_classes * counts.clamp_min(1))
    return torch.where(counts > 0, weights, torch.zeros_like(weights)).float()


def prior_logits(labels: torch.Tensor, num_classes: int, label_smoothing: float) -> torch.Tensor:
    """Log of the class frequencies of ``labels`` as label-smoothed targets see them,
    ``log((1 - ε) n_k / N + ε / K)``, centred: the logits of the best input-blind predictor
    under that loss (absent classes only get the ε share, or a floor without smoothing)."""
    freq = torch.bincount(labels, minlength=num_classes).double() / len(labels)
    target = (1 - label_smoothing) * freq + label_smoothing / num_classes
    logits = target.clamp_min(1e-4).log()
    return (logits - logits.mean()).float()


def epoch_order(
    train_index: torch.Tensor, weights: torch.Tensor | None, generator: torch.Generator
) -> torch.Tensor:
    """This epoch's sample order: a permutation, or (``weights``) a class-balanced draw."""
    if weights is None:
        return train_index[torch.randperm(len(train_index), generator=generator)]
    draw = torch.multinomial(weights, len(train_index), replacement=True, generator=generator)
    return train_index[draw]


def mix_batch(
    x: torch.Tensor, y: torch.Tensor, num_classes: int, alpha: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al., 2018) of a batch with itself in reverse order: ``x`` and the
    one-hot targets blended by one weight ``lam ~ Beta(alpha, alpha)``, drawn from
    ``generator`` (so a resumed or multi-process run draws the same). Returns the images and
    class-probability targets, which ``nn.CrossEntropyLoss`` takes with label smoothing.

    timm's ``Mixup`` blends the same way (its batch mode) but draws from numpy's global state,
    which a run's saved state does not hold; Beta has no torch sampler that takes a generator,
    so the generator seeds a numpy one for the draw."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    target = torch.nn.functional.one_hot(y, num_classes).to(x.dtype)
    return lam * x + (1 - lam) * x.flip(0), lam * target + (1 - lam) * target.flip(0)
