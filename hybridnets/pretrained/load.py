"""``load_pretrained``: load, adapt and report.

report = load_pretrained(model, "convvit_t.in1k_timm")  # or a file, folder, URL, hf-hub:
str(report)  # loaded / adapted / missing / unexpected / shape-mismatched keys
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from hybridnets.pretrained.adapt import DERIVED_SUFFIXES, InflateMode, adapt_state_dict
from hybridnets.pretrained.sources import (
    Checkpoint,
    FilterFn,
    architecture_of,
    resolve_source,
)

logger = logging.getLogger(__name__)

_SHOWN = 8


class PretrainedLoadError(RuntimeError):
    """A checkpoint does not fit the model; ``report`` says which keys."""

    def __init__(self, report: LoadReport) -> None:
        super().__init__(
            f"checkpoint does not fit the model (pass strict=False to load what fits):\n{report}"
        )
        self.report = report


@dataclass
class LoadReport:
    """What ``load_pretrained`` did with each key.

    Attributes:
        source: Where the weights came from.
        loaded: Keys copied unchanged.
        adapted: Keys changed to fit (or left at init, for a classifier) → what was done.
        missing: Model keys the checkpoint lacks (left at their initial values).
        unexpected: Checkpoint keys the model lacks (ignored).
        mismatched: Keys whose shapes could not be adapted → (checkpoint shape, model shape).
        notes: Other observations, e.g. that the checkpoint was saved from another architecture.
    """

    source: str
    loaded: list[str] = field(default_factory=list)
    adapted: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every model key was loaded or deliberately adapted."""
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        lines = [
            f"weights from {self.source}: {len(self.loaded)} loaded, {len(self.adapted)} adapted, "
            f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, "
            f"{len(self.mismatched)} shape-mismatched"
        ]
        lines += [f"  note: {note}" for note in self.notes]
        sections = (
            ("adapted", [f"{k}: {v}" for k, v in self.adapted.items()]),
            ("missing (left at init)", self.missing),
            ("unexpected (ignored)", self.unexpected),
            (
                "shape-mismatched (checkpoint vs model)",
                [f"{k}: {tuple(a)} vs {tuple(b)}" for k, (a, b) in self.mismatched.items()],
            ),
        )
        for title, items in sections:
            if items:
                lines.append(f"  {title}:")
                lines += [f"    {item}" for item in items[:_SHOWN]]
                if len(items) > _SHOWN:
                    lines.append(f"    ... and {len(items) - _SHOWN} more")
        return "\n".join(lines)


def load_pretrained(
    model: nn.Module,
    source: bool | str | Path,
    sha256: str | None = None,
    strict: bool = True,
    inflate: InflateMode = "center",
    filter_fn: FilterFn | None = None,
) -> LoadReport:
    """Load weights into ``model``, adapting channels, head, rank and window size.

    Args:
        model: Target model; ``model.pretrained_cfg`` is updated with the weights' tag,
            source, mean/std (per input channel) and licence.
        source: True (the model's default tag), a tag, a file, a folder, a URL or
            ``hf-hub:org/repo``; see :func:`hybridnets.pretrained.sources.resolve_source`.
        sha256: Expected digest of the downloaded or local file.
        strict: Raise :class:`PretrainedLoadError` unless every key fits (after adaptation).
        inflate: 2D → 3D kernel inflation, ``"center"`` (exact on depth-constant volumes)
            or ``"mean"`` (I3D).
        filter_fn: The model family's conversion of timm checkpoints, for ``timm:`` sources;
            defaults to ``model.pretrained_filter_fn`` (set by :func:`hybridnets.create`).

    Returns:
        The :class:`LoadReport`.
    """
    filter_fn = filter_fn or getattr(model, "pretrained_filter_fn", None)
    checkpoint = resolve_source(source, model, sha256, filter_fn)
    state_dict = {
        k: v for k, v in checkpoint.state_dict.items() if not k.endswith(DERIVED_SUFFIXES)
    }
    state_dict, adapted = adapt_state_dict(state_dict, model, inflate, checkpoint.spatial_dims)
    target = model.state_dict()
    report = LoadReport(source=checkpoint.source, adapted=adapted)
    for key, value in state_dict.items():
        if key not in target:
            report.unexpected.append(key)
        elif value.shape != target[key].shape:
            report.mismatched[key] = (tuple(value.shape), tuple(target[key].shape))
        elif key not in adapted:
            report.loaded.append(key)
    report.missing = [k for k in target if k not in state_dict and k not in adapted]
    saved = checkpoint.cfg or {}
    theirs = saved.get("architecture") or saved.get("tag", "").partition(".")[0]
    ours = architecture_of(model)
    if theirs and ours and theirs != ours:
        report.notes.append(f"the checkpoint was saved from {theirs!r}, the model is {ours!r}")
    if strict and not report.ok:
        raise PretrainedLoadError(report)
    fits = {k: v for k, v in state_dict.items() if k in target and k not in report.mismatched}
    model.load_state_dict(fits, strict=False)
    _update_pretrained_cfg(model, checkpoint)
    (logger.info if report.ok else logger.warning)("%s", report)
    return report


def _update_pretrained_cfg(model: nn.Module, checkpoint: Checkpoint) -> None:
    cfg = getattr(model, "pretrained_cfg", None)
    if not isinstance(cfg, dict):
        return
    cfg["source"] = checkpoint.source
    saved = checkpoint.cfg or {}
    if "tag" in saved:
        cfg["tag"] = saved["tag"]
    licence = saved.get("licence", saved.get("license"))
    if licence:
        cfg["license"] = licence
    in_chans = getattr(model, "in_chans", None)
    for stat in ("mean", "std"):
        values = saved.get(stat)
        if values and in_chans:
            values = list(values)
            if len(values) != in_chans:  # grey: the average; N channels: tiled
                values = [sum(values) / len(values)] if in_chans == 1 else values * in_chans
            cfg[stat] = tuple(values[:in_chans])
