"""Zero-shot classification: one text embedding per class, built from prompt templates.

Each class is described by one or more names (synonyms such as ``["MR", "MRI"]``) put into
every template (``"a {} image of the chest"``); the class vector is the mean of the
normalised text embeddings, normalised again (CLIP's prompt ensembling). An image gets the
class whose vector is most similar to its embedding.

    weights = zero_shot_weights(model.encode_text, ["CT", ["MR", "MRI"]], ["a {} scan."])
    pred = zero_shot_predict(model.encode_image(images), weights)   # (B,) class indices
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["prompts", "zero_shot_accuracy", "zero_shot_predict", "zero_shot_weights"]

ClassName = str | Sequence[str]


def prompts(classname: ClassName, templates: Sequence[str]) -> list[str]:
    """Every template filled with every name of one class."""
    names = [classname] if isinstance(classname, str) else list(classname)
    return [t.format(n) for n in names for t in templates]


@torch.no_grad()
def zero_shot_weights(
    encode_text: Callable[[list[str]], Tensor],
    classnames: Sequence[ClassName],
    templates: Sequence[str],
) -> Tensor:
    """Class vectors ``(K, D)``: the normalised mean of each class's normalised prompts."""
    rows = [F.normalize(encode_text(prompts(c, templates)), dim=-1).mean(0) for c in classnames]
    return F.normalize(torch.stack(rows), dim=-1)


def zero_shot_predict(image_embeddings: Tensor, weights: Tensor) -> Tensor:
    """The most similar class ``(B,)`` of each image embedding ``(B, D)``."""
    return (image_embeddings.float() @ weights.float().T).argmax(-1)


def zero_shot_accuracy(predictions: Tensor, labels: Tensor) -> dict[str, float]:
    """Accuracy and balanced accuracy (mean recall over the classes present) of predictions
    on the samples with a label (``labels >= 0``)."""
    known = labels >= 0
    pred, true = predictions[known].cpu().numpy(), labels[known].cpu().numpy()
    recalls = [float((pred[true == c] == c).mean()) for c in np.unique(true)]
    return {
        "acc": float((pred == true).mean()) if len(true) else float("nan"),
        "balanced_acc": float(np.mean(recalls)) if recalls else float("nan"),
        "n": len(true),
    }
