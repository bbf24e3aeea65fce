"""The config parts every recipe is composed of, one name per idea.

A recipe's config is a dataclass that inherits these parts (``TrainConfig(RunConfig,
OptimConfig, ...)``) and adds its own fields; it may re-declare a part's field to give it another
default. Each field's help is the ``Args:`` entry of the class that documents it (a recipe may
document a shared field again, more precisely); per-field metadata, declared once with
:func:`setting`, says which values it takes, its command-line flag and aliases, and whether it
changes what a run computes. From that one place come the CLI (:mod:`hybridnets.engine.cli`), the
validation of choices and the settings a resumed run may change (:func:`result_free`).

    @dataclass(kw_only=True)
    class TrainConfig(RunConfig, ModelConfig, DataConfig, OptimConfig, SelectConfig, ...):
        fusion: str = setting("cross", choices=FUSION_MODES)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from hybridnets.engine.selection import SELECT

__all__ = [
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "ParallelConfig",
    "RunConfig",
    "SelectConfig",
    "Settings",
    "field_metadata",
    "result_free",
    "setting",
]

_logger = logging.getLogger(__name__)


def setting(
    default: Any = MISSING,
    *,
    choices: Sequence[Any] | None = None,
    result: bool = True,
    flag: str | None = None,
    aliases: Sequence[str] = (),
    minimum: float | None = None,
    factory: Any = MISSING,
) -> Any:
    """A config field with its metadata.

    Args:
        default: The default value (leave out for a required field).
        choices: The values it may take (checked at construction, offered by the CLI).
        result: Whether it changes what a run computes (False: output folder, progress bar,
            threads; a resumed run may change it).
        flag: The command-line option, when not ``--field-name``.
        aliases: Other options that set it (older names).
        minimum: The smallest value it may take (checked at construction).
        factory: A default factory (for mutable defaults).
    """
    meta = {"choices": tuple(choices) if choices is not None else None, "result": result,
            "flag": flag, "aliases": tuple(aliases), "minimum": minimum}  # fmt: skip
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def field_metadata(cls: type, name: str) -> dict[str, Any]:
    """The metadata of field ``name`` of config class ``cls``: where a subclass re-declares a
    field only to change its default, the part that declared it with :func:`setting` holds it."""
    for klass in cls.__mro__:
        declared: Field | None = getattr(klass, "__dataclass_fields__", {}).get(name)
        if declared is not None and declared.metadata:
            return dict(declared.metadata)
    return {"choices": None, "result": True, "flag": None, "aliases": (), "minimum": None}


def result_free(cls: type) -> tuple[str, ...]:
    """The fields of ``cls`` that do not change what a run computes."""
    return tuple(f.name for f in fields(cls) if not field_metadata(cls, f.name)["result"])


@dataclass(kw_only=True)
class Settings:
    """Base of every config: checks choices and minimums of all fields at construction."""

    def __post_init__(self) -> None:
        for f in fields(self):
            meta, value = field_metadata(type(self), f.name), getattr(self, f.name)
            if meta["choices"] is not None and value not in meta["choices"]:
                raise ValueError(f"{f.name} must be one of {meta['choices']}, got {value!r}")
            if meta["minimum"] is not None and value is not None and value < meta["minimum"]:
                raise ValueError(f"{f.name} must be at least {meta['minimum']}, got {value}")


@dataclass(kw_only=True)
class RunConfig(Settings):
    """Where and how a run executes.

    Args:
        out_dir: The run's folder: result.json, its checkpoints, run_config.json (this
            configuration, to re-run it with --config) and the resumable state.
        seed: Seed for weights, subsets, shuffling and augmentation.
        device: auto (CUDA when available), cpu, cuda or cuda:N.
        amp: bf16 autocast on CUDA.
        progress: Show a tqdm progress bar.
        num_threads: CPU threads for torch (None: torch's default); 1 is fastest on a small
            machine shared with other jobs.
        resume: Continue an interrupted run from out_dir/state.pt (written after every epoch
            and on SIGTERM) when its settings match; off: start over.
        overwrite: Train again in an out_dir that holds a finished run, replacing its results
            (off: such a run is refused).
    """

    out_dir: str = setting("runs/run", result=False, flag="--out")
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    progress: bool = setting(True, result=False)
    num_threads: int | None = setting(None, result=False, minimum=1)
    resume: bool = setting(True, result=False)
    overwrite: bool = setting(False, result=False)


@dataclass(kw_only=True)
class ModelConfig(Settings):
    """The model a run trains.

    Args:
        model: hybridnets, monai_<resnet> or timm model name.
        model_kwargs: Extra model constructor arguments as JSON (stem_stride, img_size, ...);
            they win over the model's own arguments for the input size (convvit_n takes
            stem_stride 4 from 56 px: '{"stem_stride": 2}' keeps the 28-px stem).
        pretrained: Start a hybridnets model from these weights: a folder written by
            python -m hybridnets.pretrain or save_pretrained, a file, a weight tag or a URL
            (heads start fresh; a folder brings the model arguments it was trained with,
            e.g. its stem stride, instead of the input size's; None: random init; timm
            weights: --model-kwargs '{"pretrained": true}').
        drop_path_rate: Stochastic depth for hybridnets/timm models (None: the model's
            default).
    """

    model: str = setting()
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None
    drop_path_rate: float | None = setting(None, minimum=0.0)

    def architecture(self, input_size: int | Sequence[int] | None) -> dict[str, Any]:
        """The constructor arguments that define the network at ``input_size`` (what a
        checkpoint records to rebuild it), then ``model_kwargs``, which win: those the
        ``pretrained`` weights were trained with when a local folder records them (a
        network is its weights' own whatever the size), else the model's own for that size
        (:func:`hybridnets.registry.input_size_kwargs`, e.g. ``convvit_n``'s stem stride 4
        from 56 px)."""
        from hybridnets.pretrained import recorded_architecture
        from hybridnets.registry import input_size_kwargs

        recorded = recorded_architecture(self.pretrained) if self.pretrained else None
        if recorded is not None and recorded[0] == self.model:
            kwargs = recorded[1]
            rule = input_size_kwargs(self.model, input_size)
            if any(kwargs.get(k) != v for k, v in rule.items()):
                _logger.info(
                    "%s: the pretrained weights' own arguments %s, not %s for input size %s",
                    self.model, kwargs, rule, input_size,
                )  # fmt: skip
        else:
            kwargs = input_size_kwargs(self.model, input_size)
        return kwargs | dict(self.model_kwargs)

    def build_kwargs(
        self, input_size: int | Sequence[int] | None, load_weights: bool = True
    ) -> dict[str, Any]:
        """:meth:`architecture` plus how this run starts: ``drop_path_rate`` (not for MONAI
        models) and, with ``load_weights``, the ``pretrained`` weights."""
        from hybridnets.resolve import model_source, pretrained_kwargs

        kwargs = self.architecture(input_size)
        if self.drop_path_rate is not None and model_source(self.model) != "monai":
            kwargs["drop_path_rate"] = self.drop_path_rate
        if load_weights:
            kwargs |= pretrained_kwargs(self.model, self.pretrained)
        return kwargs


@dataclass(kw_only=True)
class DataConfig(Settings):
    """The data a run reads and how images reach the model.

    Args:
        data: The data source (see the recipe).
        input_size: Edge length images are resized to (volumes: cube).
        in_chans: Channels images are read with (None: the data's own).
        max_train_samples: Train on a random subset of this many training samples (None: all).
        normalize: Standardise inputs with the training data's per-channel mean and std
            (stored with the checkpoint).
        augment: Random augmentation of training images (see the recipe).
        allow_outside_paths: Tables: follow image paths that lead outside the table's folder
            (absolute paths, ../); off: such a row is refused.
    """

    data: str = setting()
    input_size: int | None = setting(None, minimum=1)
    in_chans: int | None = setting(None, minimum=1)
    max_train_samples: int | None = setting(None, minimum=1)
    normalize: bool = True
    augment: bool = True
    allow_outside_paths: bool = setting(False, result=False)


@dataclass(kw_only=True)
class OptimConfig(Settings):
    """Optimisation: AdamW on timm's parameter groups, warm-up then cosine per step, EMA.

    Args:
        epochs: Number of epochs (the cosine schedule spans them all).
        batch_size: Global batch size, split over the processes under torchrun (same steps for
            any number of processes).
        lr: Peak learning rate of AdamW.
        weight_decay: AdamW weight decay (not on norms, biases and the model's
            no_weight_decay() names).
        warmup_epochs: Linear warm-up length in epochs (may be fractional).
        min_lr_ratio: Final learning rate as a fraction of lr.
        clip_grad: Clip the global gradient norm to this value (None: no clipping).
        layer_decay: Layer-wise LR decay through the model's group_matcher (e.g. 0.75 when
            fine-tuning pretrained weights; None: off).
        ema_decay: Evaluate and save timm's EMA of the weights with this decay (warm-up makes
            early steps count less; None or 0: off).
    """

    epochs: int = setting(30, minimum=1)
    batch_size: int = setting(32, minimum=1)
    lr: float = setting(5e-4, minimum=0.0)
    weight_decay: float = setting(0.05, minimum=0.0)
    warmup_epochs: float = setting(2.0, minimum=0.0)
    min_lr_ratio: float = setting(0.01, minimum=0.0)
    clip_grad: float | None = None
    layer_decay: float | None = None
    ema_decay: float | None = None


@dataclass(kw_only=True)
class SelectConfig(Settings):
    """Which epoch's weights a run keeps.

    Args:
        select: Weights reported and saved: last (the end of training), val_auc (epoch with
            the best validation AUC), val_loss (lowest validation loss) or val_loss_auc (lowest
            validation loss minus AUC averaged over the epoch and the two before it, which a
            small validation split fools less than either alone).
        patience: With a selector other than last, stop after this many epochs without a
            better validation score (None: never).
    """

    select: str = setting("last", choices=SELECT)
    patience: int | None = setting(None, minimum=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.patience is not None and self.select == "last":
            raise ValueError("`patience` needs a selector other than last (`select=val_loss`, ...)")


@dataclass(kw_only=True)
class ParallelConfig(Settings):
    """How a run spreads over processes and memory (none of it changes the result).

    Args:
        fsdp: Under torchrun, shard each stage with FSDP2 (fully_shard; bf16 parameters with
            amp on CUDA) instead of replicating the model with DDP; needs --ema-decay none.
        grad_checkpointing: Recompute activations in the backward pass (the model's
            set_grad_checkpointing) to fit larger 3D inputs in memory.
    """

    fsdp: bool = setting(False, result=False)
    grad_checkpointing: bool = setting(False, result=False)
