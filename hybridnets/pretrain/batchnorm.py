"""Re-estimate BatchNorm running statistics on clean inputs after masked pretraining.

Masked inputs (zeroed patches, mask tokens) shift every BatchNorm's batch statistics, so the
running averages a pretrained encoder ends with describe inputs it will never see again. One
pass over unmasked images, every BatchNorm in training mode with a cumulative average and the
rest of the model in eval mode (no stochastic depth), replaces them (Ioffe & Szegedy, 2015, §3.1).

    recalibrate_batchnorm(encoder, (x for x in batches))
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import torch
from torch import Tensor, nn

__all__ = ["recalibrate_batchnorm"]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[Tensor]) -> int:
    """Replace the running mean and variance of every BatchNorm in ``model`` by their average
    over ``batches`` (inputs of the model); returns the number of BatchNorm layers updated
    (0: the model has none and is left as it was). The model is left in eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        raise ValueError(
            "recalibrate_batchnorm got no batches; running statistics left as they were"
        )
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
        m.train()
    for x in itertools.chain([first], batches):
        model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
        m.eval()
    return len(norms)
