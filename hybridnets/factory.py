"""``hybridnets.create``: build a registered model, optionally with weights and as a feature extractor.

model = hybridnets.create("convvit_s", spatial_dims=3, in_chans=1, num_classes=2)
feats = hybridnets.create("convvit_t", features_only=True, out_indices=(1, 2, 3))(x)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn

from hybridnets.registry import model_entrypoint


def create(
    name: str | None = None,
    pretrained: bool | str | Path = False,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    **kwargs,
) -> nn.Module:
    """Build model ``name`` with constructor ``kwargs`` (``spatial_dims``, ``in_chans``, ...).

    Args:
        name: A registered model name (see :func:`hybridnets.list_models`). May be omitted when
            ``pretrained`` is a folder written by :func:`hybridnets.save_pretrained`.
        pretrained: False, True (the model's default weights), a weight tag, a local file or
            folder, a URL or ``hf-hub:org/repo``; see :mod:`hybridnets.pretrained`.
        features_only: Return a module whose forward gives the list of per-stage maps.
        out_indices: Stages to return with ``features_only`` (default: all).
        **kwargs: Passed to the model constructor, except ``sha256``: the expected digest of
            the weights when ``pretrained`` is a URL, file, folder or ``hf-hub:`` source (for a
            ``timm:`` tag, one digest per parent joined with ``+``); a mismatch raises.
    """
    if name is None:
        if not pretrained or isinstance(pretrained, bool):
            raise ValueError("create() needs a model name unless pretrained is a saved folder")
        from hybridnets.pretrained import read_saved_config

        config = read_saved_config(pretrained)
        name, kwargs = config["architecture"], {**config["kwargs"], **kwargs}
    return model_entrypoint(name)(
        pretrained=pretrained, features_only=features_only, out_indices=out_indices, **kwargs
    )
