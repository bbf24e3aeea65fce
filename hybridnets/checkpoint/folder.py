"""``hybridnets.load(folder)``: any folder a recipe saved, as one :class:`Checkpoint`.

    ckpt = hybridnets.load("runs/x/best")           # kind "classifier" or "fusion"
    preds = ckpt.predict("new_scans/")             # probabilities with the run's preprocessing
    ckpt = hybridnets.load("runs/a/aligned")        # kind "aligned": an ImageTextModel
    ckpt = hybridnets.load("runs/p")                # kind "backbone": pretrained encoder
    ckpt = hybridnets.load("runs/x/lora")           # kind "lora": peft adapters on their base

Which kind a folder holds is read from its ``checkpoint.json`` (or, in folders written before
it, ``recipe.json`` / ``align.json`` / ``pretrain.json``), from peft's ``adapter_config.json``
for LoRA adapters, or from ``config.json`` of a backbone written by ``save_pretrained``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from hybridnets.checkpoint.record import CHECKPOINT_FILE, LEGACY_FILES, read_record

if TYPE_CHECKING:
    from hybridnets.checkpoint.predictions import Predictions
    from hybridnets.data.inputs import InputSpec

__all__ = ["KINDS", "Checkpoint", "CheckpointKindError", "load"]

KINDS = ("classifier", "fusion", "aligned", "backbone", "lora")
_RECIPE, _ALIGN, _ADAPTERS, _CONFIG = (
    "recipe.json",
    "align.json",
    "adapter_config.json",
    "config.json",
)


class CheckpointKindError(ValueError):
    """A folder holds no checkpoint this library wrote, or not the kind an operation needs."""


@dataclass
class Checkpoint:
    """A loaded checkpoint folder.

    Attributes:
        kind: One of :data:`KINDS`.
        model: The rebuilt model in eval mode (an ``ImageTextModel`` when aligned, a peft
            model when LoRA).
        recipe: What the folder records: architecture and its arguments, preprocessing
            (``intensity``, ``mean``, ``std``, ``input_size``, ``in_chans``), ``classes``,
            ``threshold``, the tabular preprocessor or text tower.
        folder: Where it was read from.
    """

    kind: str
    model: nn.Module
    recipe: dict[str, Any]
    folder: Path

    def input_spec(self) -> InputSpec:
        """How this classifier reads new data (see :func:`hybridnets.data.inputs.read_inputs`)."""
        from hybridnets.data.inputs import InputSpec
        from hybridnets.data.tabular import TabularPreprocessor

        self._require_classifier("read inputs")
        r = self.recipe
        tabular = TabularPreprocessor.from_dict(r["tabular"]) if "tabular" in r else None
        return InputSpec(
            in_chans=r["in_chans"], size=r["input_size"], spatial_dims=r["spatial_dims"],
            classes=r.get("classes") or [str(k) for k in range(r["num_classes"])],
            image_col=r.get("image_col") or "image", label_col=r.get("label_col") or "label",
            split_col=r.get("split_col"), group_col=r.get("group_col"), seed=r.get("seed", 0),
            tabular=tabular, allow_outside_paths=r.get("allow_outside_paths", False),
        )  # fmt: skip

    def predict(
        self,
        data: str | Path,
        split: str | None = None,
        device: str = "auto",
        batch_size: int = 256,
        allow_outside_paths: bool | None = None,
        tta: str | None = None,
    ) -> Predictions:
        """Class probabilities of a classifier on ``data`` (a ``.npz`` split, a table, a folder
        of images or volumes, or one file), read with the checkpoint's own preprocessing.

        ``split``: for a ``.npz`` the split (default test); for a table the rows of that
        split as the training run drew them (default: every row). ``allow_outside_paths``:
        follow a table's image paths outside its folder (None: as the training run did).
        ``tta``: test-time augmentation, none or flip (None: the run's own).
        """
        from hybridnets.checkpoint.predictions import predict_inputs
        from hybridnets.data.inputs import read_inputs

        self._require_classifier("predict")
        spec = self.input_spec()
        if allow_outside_paths is not None:
            spec.allow_outside_paths = allow_outside_paths
        inputs = read_inputs(data, spec, split)
        return predict_inputs(self.model, self.recipe, inputs, device, batch_size, tta)

    def _require_classifier(self, what: str) -> None:
        if self.kind not in ("classifier", "fusion"):
            raise CheckpointKindError(
                f"{self.folder} holds a {self.kind} checkpoint; only classifiers trained with "
                f"python -m hybridnets.train (their best/ folder) can {what}"
            )


def _kind(folder: Path) -> tuple[str, dict[str, Any]]:
    """The folder's kind and record (see :mod:`hybridnets.checkpoint.record`)."""
    found = read_record(folder)
    if found is not None:
        return found
    if (folder / _ADAPTERS).is_file():
        return "lora", {}
    if (folder / _CONFIG).is_file():
        return "backbone", json.loads((folder / _CONFIG).read_text())
    for sub in ("best", "aligned"):
        if read_record(folder / sub) is not None:
            raise CheckpointKindError(
                f"{folder} is a run folder; load its checkpoint {folder / sub}"
            )
    raise CheckpointKindError(
        f"{folder} holds none of {CHECKPOINT_FILE}, {_ADAPTERS} or {_CONFIG} (nor an older "
        f"{' or '.join(LEGACY_FILES)}): not a folder written by hybridnets (train's best/, "
        "align's aligned/ or image_tower/, pretrain's output, a LoRA lora/ folder or "
        "save_pretrained)"
    )


def _lora_base(folder: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The model LoRA adapters were trained on: rebuilt from the run's ``best/`` recipe with
    the run's starting weights."""
    from hybridnets.resolve import create_model, pretrained_kwargs

    best = folder.parent / "best"
    found = read_record(best)
    if found is None:
        raise CheckpointKindError(f"{folder}: LoRA adapters are read with their run's {best}")
    recipe = found[1]
    if not recipe.get("pretrained"):
        raise CheckpointKindError(
            f"{folder}: these adapters were trained on a randomly initialised model, which "
            f"cannot be rebuilt; load the merged model {best} instead"
        )
    kwargs = dict(recipe.get("model_kwargs", {}))
    kwargs |= pretrained_kwargs(recipe["model"], recipe.get("pretrained"))
    shape = (recipe["spatial_dims"], recipe["in_chans"], recipe["num_classes"])
    return create_model(recipe["model"], *shape, **kwargs), recipe


def load(folder: str | Path) -> Checkpoint:
    """Load any checkpoint folder a hybridnets recipe (or ``save_pretrained``) wrote.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        CheckpointKindError: It holds no checkpoint of this library (the message says which
            files it looked for and where a run keeps its checkpoint).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist")
    kind, recipe = _kind(folder)
    if kind == "aligned":
        from hybridnets.checkpoint.aligned import load_aligned

        model, recipe = load_aligned(folder)
    elif kind == "lora":
        from hybridnets.multimodal.lora import load_adapters

        base, recipe = _lora_base(folder)
        model = load_adapters(base, folder)
    elif kind == "backbone" and (folder / _CONFIG).is_file():
        from hybridnets.resolve import create_model

        model = create_model(pretrained=str(folder))
    else:
        from hybridnets.checkpoint.classifier import load_trained

        model, recipe = load_trained(folder)
    return Checkpoint(kind, model.eval(), recipe, folder)
