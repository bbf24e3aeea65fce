"""Symmetric InfoNCE (the CLIP loss), in one process or across a process group.

Row ``i`` of the image batch and row ``i`` of the text batch are a pair; every other row is a
negative. The loss is the mean of the image→text and text→image cross-entropies of the logits
``scale · img @ txt.T`` (van den Oord et al., "CPC", 2018; Radford et al., CLIP, 2021), as
open_clip's ``ClipLoss``.

Under ``torch.distributed`` the features of every rank are gathered with gradients
(``torch.distributed.nn.all_gather``) and each rank scores its own rows against the global
batch (open_clip's ``local_loss=True, gather_with_grad=True``): with DDP averaging the
gradients, N processes compute the gradient of the same global loss as one process would.
Every rank must hold the same number of rows.

Images that share a caption (several images of one case) need no special targets: the
caption's rows are identical, so the loss equals the one with those images as joint
positives (tested); only a text tower with dropout would tell them apart.

    loss = clip_loss(img, txt, model.scale)             # img, txt: (B, D), L2-normalised
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

__all__ = ["clip_loss", "gather_features"]


def gather_features(x: Tensor) -> tuple[Tensor, int]:
    """All ranks' rows of ``x`` concatenated (with gradients) and this rank's row offset.

    Outside an initialised process group (or in a world of one) ``x`` itself and 0.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    from torch.distributed.nn import all_gather

    return torch.cat(all_gather(x)), dist.get_rank() * x.shape[0]


def clip_loss(
    image: Tensor,
    text: Tensor,
    scale: Tensor | float,
    gather: bool = True,
) -> Tensor:
    """Symmetric InfoNCE of paired, L2-normalised embeddings.

    Args:
        image: Image embeddings ``(B, D)``.
        text: Text embeddings ``(B, D)``; row ``i`` describes image ``i``.
        scale: The logit scale (inverse temperature).
        gather: Under a process group, score against every rank's rows (off: this rank's
            rows only, e.g. when every rank holds the whole evaluation set).

    Returns:
        The scalar loss (under a process group: this rank's rows, against the global batch).
    """
    all_image, offset = gather_features(image) if gather else (image, 0)
    all_text, _ = gather_features(text) if gather else (text, 0)
    logits_per_image = scale * image @ all_text.T  # (B, N)
    logits_per_text = scale * text @ all_image.T  # (B, N)
    rows = torch.arange(image.shape[0], device=image.device) + offset
    return (F.cross_entropy(logits_per_image, rows) + F.cross_entropy(logits_per_text, rows)) / 2
