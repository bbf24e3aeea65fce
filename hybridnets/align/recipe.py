"""Image–text alignment recipe: contrastive training of any image tower against a text tower.

A data source (:mod:`hybridnets.data.pairs`: MedPix 2.0 or a CSV/JSONL table), a model
(:class:`hybridnets.multimodal.ImageTextModel`), a loss (symmetric InfoNCE) and metrics (retrieval both ways, zero-shot accuracy), on the
shared engine (AdamW with warm-up + cosine, optional EMA, bf16 on CUDA, DDP under torchrun).
LiT by default: the text tower is frozen and every caption encoded once; ``text_trainable``
trains it too (CLIP) and ``text_lora_rank`` trains LoRA adapters in it.

Images are standardised with the training split's statistics and, with ``augment``, slightly
rotated, zoomed and shifted (never flipped: captions name sides). The last incomplete batch
of an epoch is dropped (a contrastive batch needs its negatives). The training state is saved
after every epoch and on SIGTERM/SIGINT; a run started again with the same settings
continues to the same result. At the end the image tower is saved as a backbone
(``image_tower/``), the aligned model as ``aligned/`` and the scores as ``result.json``.

    result = align(AlignConfig(model="convvit_n", data="/data/medpix2", input_size=64))
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from hybridnets.align.config import EXTRA_TEXT_PROB, AlignConfig
from hybridnets.align.evaluate import evaluate_pairs, zero_shot_classes
from hybridnets.atomic import atomic_write_text
from hybridnets.checkpoint.aligned import save_aligned, save_image_tower
from hybridnets.data import RandomFlipAffine
from hybridnets.data.pairs import ImageTextPairs, has_split, read_medpix, read_table
from hybridnets.engine import (
    Engine,
    Runtime,
    barrier,
    batch_part,
    mean_over_ranks,
    seed_everything,
)
from hybridnets.engine.loop import engine_for, launch_run, steps_per_epoch
from hybridnets.engine.signals import StopRequest
from hybridnets.engine.trainer import RecipeTask, Trainer, TrainerProgress
from hybridnets.multimodal import ImageTextModel, build_image_text_model, clip_loss

__all__ = ["STATE_FILE", "align"]

STATE_FILE = "state.pt"
"""Training state in ``out_dir``, after every epoch or on a stop (removed when the run completes)."""

_logger = logging.getLogger(__name__)


@dataclass
class _Run(RecipeTask):
    """Everything a run builds once: data, model, engine, augmentation, statistics."""

    verb: ClassVar[str] = "align"

    config: AlignConfig
    runtime: Runtime
    train: ImageTextPairs
    val: ImageTextPairs | None
    test: ImageTextPairs
    train_index: torch.Tensor
    classes: dict[str, list[str]]
    engine: Engine
    augment: RandomFlipAffine | None
    steps_per_epoch: int
    extra_text_prob: float
    recipe: dict[str, Any]

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    def evaluate(self, pairs: ImageTextPairs) -> dict[str, Any]:
        """Scores on ``pairs``, standardised as training batches are (training statistics)."""
        model, prepare = self.engine.eval_model, self.train.standardize
        return evaluate_pairs(
            model, pairs, prepare, self.device, self.classes, self.engine.autocast()
        )

    def batches(self, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """This epoch's batches: a permutation of the training pairs."""
        order = self.train_index[torch.randperm(len(self.train_index), generator=generator)]
        return order.split(self.config.batch_size)[: self.steps_per_epoch]

    def step(self, index: torch.Tensor, generator: torch.Generator) -> float:
        return _step(self, index, generator)

    def validate(self, epoch: int) -> dict[str, float]:
        """The learned temperature, and retrieval and zero-shot scores on the validation pairs."""
        row = {"logit_scale": self.engine.eval_model.scale.item()}
        return row | (_summary(self.evaluate(self.val), "val") if self.val is not None else {})

    def finish(self, progress: TrainerProgress, wall_s: float) -> dict[str, Any]:
        return _finish(self, progress, wall_s)


def _load_splits(
    config: AlignConfig,
) -> tuple[ImageTextPairs, ImageTextPairs | None, ImageTextPairs]:
    """Train, validation (or None) and test pairs of ``config``'s sources."""
    size, chans = config.input_size, config.in_chans
    columns = {
        "image_col": config.image_col,
        "text_col": config.text_col,
        "label_col": config.label_col,
        "extra_text_col": config.extra_text_col,
        "allow_outside_paths": config.allow_outside_paths,
    }

    def table(path: str, split: str | None) -> ImageTextPairs:
        return read_table(path, split, chans, size, **columns)

    if Path(config.data).is_dir():  # MedPix 2.0
        train = read_medpix(config.data, "train", chans, size)
        if config.test_data:
            test = table(config.test_data, None)
        else:
            test = read_medpix(config.data, "test", chans, size)
        val = table(config.val_data, None) if config.val_data else None
        if val is None and has_split(config.data, "dev"):
            val = read_medpix(config.data, "dev", chans, size)
        return train, val, test
    separate = config.test_data is not None
    train = table(config.data, None if separate else "train")
    test = table(config.test_data, None) if separate else table(config.data, "test")
    val = table(config.val_data, None) if config.val_data else None
    if val is None and not separate and has_split(config.data, "val"):
        val = table(config.data, "val")
    return train, val, test


def _recipe(config: AlignConfig, train: ImageTextPairs, model: ImageTextModel) -> dict[str, Any]:
    """The settings that rebuild the model (saved beside both checkpoints)."""
    return {
        "model": config.model,
        "model_kwargs": config.architecture((config.input_size,) * train.spatial_dims),
        "spatial_dims": train.spatial_dims,
        "in_chans": train.in_chans,
        "input_size": config.input_size,
        "text_model": model.text.name,
        "text_pooling": config.text_pooling,
        "text_max_length": config.text_max_length,
        "text_trainable": config.text_trainable,
        "text_lora_rank": config.text_lora_rank,
        "pool": config.pool,
        "embed_dim": config.embed_dim,
        "data": train.name,
        "pretrained": config.pretrained,
    }


def _setup(config: AlignConfig, generator: torch.Generator, runtime: Runtime) -> _Run:
    """Data, statistics, model (captions encoded once when the text tower is frozen), engine."""
    if config.batch_size % runtime.world_size:
        raise ValueError(
            f"batch_size {config.batch_size} is the global batch: make it a multiple of the "
            f"number of processes ({runtime.world_size})"
        )
    train, val, test = _load_splits(config)
    if config.select != "last" and val is None:
        raise ValueError(
            f"select={config.select} needs validation pairs: a val/dev split in data or val_data"
        )
    extra_text_prob = _extra_text_prob(config, train)
    n = min(config.max_train_samples or len(train), len(train))
    train_index = torch.randperm(len(train), generator=generator)[:n].sort().values
    # full batches only: every one has batch_size - 1 negatives per pair
    steps = steps_per_epoch(n, config.batch_size, runtime.world_size, drop_last=True)
    if config.normalize:  # statistics of the pairs training sees
        mean, std = train.channel_stats(train_index)
    else:
        mean, std = [0.0] * train.in_chans, [1.0] * train.in_chans
    train.set_normalization(mean, std)  # val and test: at evaluation, see _Run.evaluate
    # pooling and projection start fresh
    input_size = (config.input_size,) * train.spatial_dims
    kwargs = config.build_kwargs(input_size)
    model = build_image_text_model(
        config.model,
        train.spatial_dims,
        train.in_chans,
        text_model=config.text_model,
        embed_dim=config.embed_dim,
        pool=config.pool,
        text_pooling=config.text_pooling,
        text_max_length=config.text_max_length,
        text_trainable=config.text_trainable,
        text_lora_rank=config.text_lora_rank,
        init_temperature=config.init_temperature,
        input_size=input_size,
        model_kwargs=kwargs,
    )
    captions = [train.texts[i] for i in train_index.tolist()]
    if extra_text_prob > 0:  # the texts training will see
        captions += [t for i in train_index.tolist() if (t := train.extra_texts[i])]
    model.to(runtime.device).set_text_statistics(captions)  # LiT: encodes each caption once
    engine = engine_for(model, runtime, config, steps)
    augment = RandomFlipAffine(train.spatial_dims, flip_dims=()) if config.augment else None
    return _Run(
        config=config,
        runtime=runtime,
        train=train,
        val=val,
        test=test,
        train_index=train_index,
        classes=zero_shot_classes(train, val, test),
        engine=engine,
        augment=augment,
        steps_per_epoch=steps,
        extra_text_prob=extra_text_prob,
        recipe=_recipe(config, train, model) | {"mean": mean, "std": std},
    )


def _step(run: _Run, index: torch.Tensor, generator: torch.Generator) -> float:
    """One step on the global batch ``index``: every rank prepares the whole batch (the same
    random draws as one process), then embeds its part; the loss gathers all parts."""
    x = run.train.batch(index, run.device)  # standardised
    if run.augment is not None:
        x = run.augment(x, generator)
    texts = _texts(run, index, generator)
    part = batch_part(len(index), run.runtime)
    x, texts = x[part], texts[part]

    def loss_fn(model: torch.nn.Module) -> torch.Tensor:
        image, text, scale = model(x, texts)
        return clip_loss(image.float(), text.float(), scale.float())

    return mean_over_ranks(run.engine.step(loss_fn), run.runtime)


def _extra_text_prob(config: AlignConfig, train: ImageTextPairs) -> float:
    """``config.extra_text_prob``, or by default :data:`EXTRA_TEXT_PROB` where the training
    pairs have extra texts; an explicit share without extra texts is an error."""
    if config.extra_text_prob is None:
        return EXTRA_TEXT_PROB if train.extra_texts else 0.0
    if config.extra_text_prob > 0 and not train.extra_texts:
        raise ValueError(
            f"extra_text_prob {config.extra_text_prob} needs extra texts, and {config.data} has "
            f"none: give MedPix 2.0 with its Case_topic.json, or a table column "
            f"'{config.extra_text_col}' (`extra_text_col`); or leave it unset"
        )
    return config.extra_text_prob


def _texts(run: _Run, index: torch.Tensor, generator: torch.Generator) -> list[str]:
    """The caption of each pair at ``index``, or with ``extra_text_prob`` its extra text
    (where it has one)."""
    texts = [run.train.texts[i] for i in index.tolist()]
    p = run.extra_text_prob
    if p == 0:
        return texts
    draws = (torch.rand(len(index), generator=generator) < p).tolist()
    extra = [run.train.extra_texts[i] for i in index.tolist()]
    return [e if use and e else t for t, e, use in zip(texts, extra, draws)]


def _summary(scores: dict[str, Any], prefix: str) -> dict[str, float]:
    """A flat history row: loss, R@1/R@10 both ways, zero-shot accuracy per task."""
    row = {f"{prefix}_loss": scores["loss"]}
    for direction, short in (("image_to_text", "i2t"), ("text_to_image", "t2i")):
        for k in ("R@1", "R@10"):
            row[f"{prefix}_{short}_{k}"] = scores[direction][k]
    for task, acc in scores["zero_shot"].items():
        row[f"{prefix}_zero_shot_{task}"] = acc["acc"]
    return row


def _finish(run: _Run, progress: TrainerProgress, wall_s: float) -> dict[str, Any]:
    """Score the test split, save both checkpoints and result.json."""
    config, out_dir = run.config, Path(run.config.out_dir)
    model = run.engine.eval_model
    test = run.evaluate(run.test)
    trainable = sum(p.numel() for p in run.engine.module.parameters() if p.requires_grad)
    result = {
        "model": config.model,
        "text_model": run.recipe["text_model"],
        "mode": config.mode,
        "data": run.train.name,
        "image_params": sum(p.numel() for p in model.image.parameters()),
        "trainable_params": trainable,
        "train_pairs": len(run.train_index),
        "extra_text_prob": run.extra_text_prob,  # as used (the default depends on the data)
        "test_pairs": len(run.test),
        "test_captions": len(set(run.test.texts)),
        "epochs_run": len(progress.history),
        "logit_scale": model.scale.item(),
        "test": test,
        "val": run.evaluate(run.val) if run.val is not None else None,
        "wall_time_s": wall_s,
        "device": str(run.device),
        "world_size": run.runtime.world_size,
        "global_batch_size": config.batch_size,
        "checkpoint": str(out_dir / "image_tower"),
        "aligned": str(out_dir / "aligned"),
        "config": asdict(config),
        "history": progress.history,
    }
    if run.runtime.is_main:
        save_image_tower(model, out_dir / "image_tower", run.recipe)
        save_aligned(model, out_dir / "aligned", run.recipe)
        atomic_write_text(out_dir / "result.json", json.dumps(result, indent=2))
        _logger.info("test %s", json.dumps(_summary(test, "test")))
    barrier(run.runtime)
    return result


def align(config: AlignConfig) -> dict[str, Any]:
    """Align ``config.model`` with a text tower on ``config.data``; returns (and, on rank 0,
    writes) the result: retrieval R@1/5/10 and median rank both ways, zero-shot accuracy per
    label task on the test split (and validation when there is one), the per-epoch history and
    the checkpoint folders.

    Raises:
        NotADirectoryError, FileExistsError, PermissionError: Before training, when the
            outputs could not be written under ``out_dir``.
        PairsFormatError: Before training, when the data is malformed (naming row and fix).
    """
    return launch_run(
        config, _align, folders=("image_tower", "aligned"), files=("result.json", STATE_FILE)
    )


def _align(config: AlignConfig, runtime: Runtime, stop: StopRequest, start: float) -> dict:
    generator = seed_everything(config.seed)
    run = _setup(config, generator, runtime)
    _logger.info(
        "aligning %s with %s (%s) on %s: %d pairs, global batch %d over %d process(es)",
        config.model,
        run.recipe["text_model"],
        config.mode,
        run.train.name,
        len(run.train_index),
        config.batch_size,
        runtime.world_size,
    )
    state_path = Path(config.out_dir) / STATE_FILE
    return Trainer(run, config, state_path).fit(generator, stop, start)
