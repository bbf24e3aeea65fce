"""Pretrained weight tags: ``PretrainedCfg`` records and the ``<model>.<tag>`` registry.

Each model family declares its tags beside the model (``register_pretrained_cfgs`` in
``hybridnets/models/<family>.py``), as timm keeps ``default_cfgs`` beside each model.

hybridnets.list_pretrained("convvit_*")   # ['convvit_b.in1k_timm', ...]
cfg = get_pretrained_cfg("convvit_t.in1k_timm")
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

TIMM_SOURCE_PREFIX = "timm:"


@dataclass(frozen=True)
class PretrainedCfg:
    """Where a set of weights comes from and what it expects.

    Attributes:
        source: ``https://...`` URL, ``hf-hub:org/repo``, a local path, or
            ``timm:<parent>.<tag>+<parent>.<tag>`` for weights converted from timm hub
            checkpoints by the model family's ``checkpoint_filter_fn``.
        sha256: Hex digest the downloaded file must match (None: not verified).
        num_classes: Classes of the checkpoint's classifier.
        in_chans: Input channels of the checkpoint's first convolution.
        spatial_dims: 2 or 3.
        input_size: Training input size ``(C, *spatial)``.
        mean: Per-channel normalisation mean.
        std: Per-channel normalisation standard deviation.
        licence: SPDX licence expression of the weights.
        description: One line on what the weights are.
    """

    source: str
    sha256: str | None = None
    num_classes: int = 1000
    in_chans: int = 3
    spatial_dims: int = 2
    input_size: tuple[int, ...] = (3, 224, 224)
    mean: tuple[float, ...] = IMAGENET_DEFAULT_MEAN
    std: tuple[float, ...] = IMAGENET_DEFAULT_STD
    licence: str = "unknown"
    description: str = ""

    def to_dict(self) -> dict:
        """JSON-friendly copy (tuples become lists when dumped)."""
        return dataclasses.asdict(self)


_PRETRAINED: dict[str, PretrainedCfg] = {}
_DEFAULT_TAG: dict[str, str] = {}


def register_pretrained(
    architecture: str, tag: str, cfg: PretrainedCfg, default: bool = False
) -> None:
    """Register ``cfg`` as ``<architecture>.<tag>``; the first tag of a model is its default."""
    if "." in architecture or "." in tag:
        raise ValueError(f"architecture and tag may not contain '.': {architecture!r}, {tag!r}")
    name = f"{architecture}.{tag}"
    if name in _PRETRAINED:
        raise ValueError(f"pretrained tag {name!r} is already registered")
    _PRETRAINED[name] = cfg
    if default or architecture not in _DEFAULT_TAG:
        _DEFAULT_TAG[architecture] = tag


def register_pretrained_cfgs(cfgs: Mapping[str, PretrainedCfg]) -> None:
    """Register a family's table of ``{"<architecture>.<tag>": cfg}``, first tag per model default."""
    for name, cfg in cfgs.items():
        architecture, _, tag = name.partition(".")
        register_pretrained(architecture, tag, cfg)


def unregister_pretrained(name: str) -> None:
    """Remove ``<architecture>.<tag>`` (used by tests and by users replacing a tag)."""
    del _PRETRAINED[name]
    architecture, tag = name.split(".", 1)
    if _DEFAULT_TAG.get(architecture) == tag:
        rest = [n.split(".", 1)[1] for n in _PRETRAINED if n.startswith(f"{architecture}.")]
        if rest:
            _DEFAULT_TAG[architecture] = rest[0]
        else:
            del _DEFAULT_TAG[architecture]


def list_pretrained(pattern: str | None = None) -> list[str]:
    """Sorted ``<model>.<tag>`` names, optionally filtered by an fnmatch ``pattern``."""
    names = sorted(_PRETRAINED)
    return names if pattern is None else fnmatch.filter(names, pattern)


def default_tag(architecture: str) -> str | None:
    """The tag ``pretrained=True`` loads for ``architecture`` (None if it has none)."""
    return _DEFAULT_TAG.get(architecture)


def find_pretrained(name: str, architecture: str | None = None) -> tuple[str, PretrainedCfg] | None:
    """Look up a full ``model.tag`` or, given ``architecture``, a bare ``tag``; None if unknown."""
    if name in _PRETRAINED:
        return name, _PRETRAINED[name]
    if architecture is not None and f"{architecture}.{name}" in _PRETRAINED:
        full = f"{architecture}.{name}"
        return full, _PRETRAINED[full]
    return None


def get_pretrained_cfg(name: str, architecture: str | None = None) -> PretrainedCfg:
    """Like :func:`find_pretrained` but raises ``ValueError`` listing close tags when unknown."""
    found = find_pretrained(name, architecture)
    if found is None:
        candidates = list_pretrained(f"{architecture}.*" if architecture else None)
        close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown pretrained tag {name!r}.{hint} Registered: {candidates or 'none'}."
        )
    return found[1]
