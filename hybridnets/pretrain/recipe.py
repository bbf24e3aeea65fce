"""Self-supervised pretraining recipe: unlabelled images + a wrapped model + its loss, on the
shared engine (the loop, AdamW + warm-up + cosine, parallelism, resume are the engine's).

The run standardises the images with their own statistics, trains
:class:`~hybridnets.pretrain.MaskedImageModel` (``objective="mim"``) or
:class:`~hybridnets.pretrain.ContrastiveModel` on two
:class:`~hybridnets.pretrain.ContrastiveViews` of every image (``objective="contrastive"``)
around ``config.model`` (built with ``num_classes=0`` by the one resolver), saves the training
state after every epoch and on SIGTERM/SIGINT (mid-epoch; the same command resumes it), and at
the end re-estimates the encoder's BatchNorm statistics on clean images and writes ``out_dir``
as a ``save_pretrained`` folder: ``hybridnets.create(name, pretrained=out_dir)`` and
``python -m hybridnets.train --pretrained out_dir`` start from it.

    result = pretrain(PretrainConfig(model="convvit_n", data="pneumoniamnist.npz", epochs=40))
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from hybridnets.atomic import atomic_write_text
from hybridnets.checkpoint.record import write_record
from hybridnets.data import RandomFlipAffine
from hybridnets.data.unlabelled import UnlabelledImages
from hybridnets.engine import (
    Engine,
    Runtime,
    barrier,
    batch_part,
    mean_over_ranks,
    seed_everything,
)
from hybridnets.engine.loop import (
    engine_for,
    launch_run,
    steps_per_epoch,
)
from hybridnets.engine.signals import StopRequest
from hybridnets.engine.trainer import RecipeTask, Trainer, TrainerProgress
from hybridnets.pretrain.batchnorm import recalibrate_batchnorm
from hybridnets.pretrain.config import PretrainConfig
from hybridnets.pretrain.contrastive import ContrastiveModel
from hybridnets.pretrain.masking import random_visible
from hybridnets.pretrain.model import MaskedImageModel, default_mask_patch
from hybridnets.pretrain.views import ContrastiveViews
from hybridnets.resolve import create_model, model_source

__all__ = ["STATE_FILE", "pretrain"]

STATE_FILE = "state.pt"
_OBJECTIVE_NAMES = {"mim": "masked image modelling", "contrastive": "contrastive views"}

_logger = logging.getLogger(__name__)


@dataclass
class _Run(RecipeTask):
    verb: ClassVar[str] = "pretrain"

    config: PretrainConfig
    runtime: Runtime
    images: UnlabelledImages
    model: MaskedImageModel | ContrastiveModel
    engine: Engine
    augment: RandomFlipAffine | ContrastiveViews | None
    steps_per_epoch: int
    mean: list[float]
    std: list[float]

    def batches(self, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """This epoch's batches: a permutation of the images."""
        order = torch.randperm(len(self.images), generator=generator)
        return order.split(self.config.batch_size)[: self.steps_per_epoch]

    def step(self, index: torch.Tensor, generator: torch.Generator) -> float:
        return _step(self, index, generator)

    def validate(self, epoch: int) -> dict[str, float]:
        """Nothing: pretraining has no labels to validate on (it keeps the last epoch)."""
        return {}

    def finish(self, progress: TrainerProgress, wall_s: float) -> dict[str, Any]:
        return _save_encoder(self, progress, wall_s)

    @property
    def architecture(self) -> dict[str, Any]:
        """The encoder's arguments at the size it is built for (:func:`_setup`)."""
        images = self.images
        return self.config.architecture((min(images.spatial_shape),) * images.spatial_dims)


def build_pretrain_model(
    config: PretrainConfig, spatial_dims: int, in_chans: int, input_size: int
) -> MaskedImageModel | ContrastiveModel:
    """The encoder (``num_classes=0``) of ``config.model`` inside the model of
    ``config.objective``; the mask patch defaults to :func:`default_mask_patch` of
    ``input_size``."""
    if model_source(config.model) != "hybridnets":
        raise ValueError(
            f"self-supervised pretraining is built for hybridnets models (stem + stages); "
            f"{config.model!r} is a {model_source(config.model)} model"
        )
    kwargs = config.build_kwargs((input_size,) * spatial_dims)
    encoder = create_model(config.model, spatial_dims, in_chans, 0, **kwargs)
    if config.objective == "contrastive":
        return ContrastiveModel(encoder, config.proj_dim, temperature=config.temperature)
    stem_stride = encoder.feature_info[0]["reduction"]
    return MaskedImageModel(
        encoder,
        mask_patch=config.mask_patch or default_mask_patch(stem_stride, input_size),
        mask_ratio=config.mask_ratio,
        style=config.mask_style,
        decoder_dim=config.decoder_dim,
        decoder_depth=config.decoder_depth,
        norm_pix_loss=config.norm_pix_loss,
        decoder_from=config.decoder_from,
    )


def _setup(config: PretrainConfig, runtime: Runtime) -> _Run:
    images = UnlabelledImages(
        config.sources,
        config.input_size,
        config.in_chans,
        allow_outside_paths=config.allow_outside_paths,
    )
    if config.max_train_samples is not None and config.max_train_samples < len(images):
        draw = torch.Generator().manual_seed(config.seed)  # leaves the run's generator alone
        keep = torch.randperm(len(images), generator=draw)[: config.max_train_samples]
        images.images = images.images[keep.sort().values]
    mean, std = images.channel_stats()
    if config.normalize:
        images.set_normalization(mean, std)
    else:
        mean, std = [0.0] * images.in_chans, [1.0] * images.in_chans
    model = build_pretrain_model(
        config, images.spatial_dims, images.in_chans, min(images.spatial_shape)
    )
    augment: RandomFlipAffine | ContrastiveViews | None
    if isinstance(model, MaskedImageModel):
        model.grid(images.images[:1])  # a size that does not fit the mask patch fails here
        augment = RandomFlipAffine(images.spatial_dims) if config.augment else None
    else:
        augment = ContrastiveViews(images.spatial_dims)
    steps = steps_per_epoch(len(images), config.batch_size, runtime.world_size)
    engine = engine_for(model, runtime, config, steps)
    return _Run(config, runtime, images, model, engine, augment, steps, mean, std)


def _step(run: _Run, index: torch.Tensor, generator: torch.Generator) -> float:
    """One step on the global batch ``index``: every rank draws the same augmentation and
    masks or views (as one process would), then trains on its part with its share of the mean
    loss (the contrastive loss gathers every rank's views itself)."""
    x = run.images.batch(index, run.runtime.device)
    part = batch_part(len(index), run.runtime)
    if isinstance(run.augment, ContrastiveViews):
        a, b = run.augment(x, generator)
        a, b = a[part], b[part]
        loss = run.engine.step(lambda model: model(a, b))
        return mean_over_ranks(loss, run.runtime)
    if run.augment is not None:
        x = run.augment(x, generator)
    grid = run.model.grid(x)
    visible = random_visible(len(x), grid, run.config.mask_ratio, generator, x.device)
    x, visible = x[part], visible[part]
    share = len(x) * run.runtime.world_size / len(index)
    loss = run.engine.step(lambda model: model(x, visible) * share)
    return mean_over_ranks(loss, run.runtime)


def _save_encoder(run: _Run, progress: TrainerProgress, wall_s: float) -> dict[str, Any]:
    """Recalibrate BatchNorm on clean images, write the encoder folder and result.json."""
    config, out = run.config, Path(run.config.out_dir)
    encoder = run.engine.eval_model.encoder  # the EMA's when kept
    recalibrated = 0
    if config.recalibrate_batchnorm:
        n = min(config.recalibrate_batchnorm, len(run.images))
        index = torch.randperm(len(run.images), generator=torch.Generator().manual_seed(0))[:n]
        batches = (run.images.batch(i, run.runtime.device) for i in index.split(config.batch_size))
        recalibrated = recalibrate_batchnorm(encoder, batches)
    recipe = {
        "recipe": f"{_OBJECTIVE_NAMES[config.objective]} (hybridnets.pretrain)",
        "objective": config.objective,
        "mask_patch": getattr(run.model, "mask_patch", None),
        "data": run.images.names,
        "images": len(run.images),
        "spatial_dims": run.images.spatial_dims,
        "in_chans": run.images.in_chans,
        "input_size": run.images.spatial_shape[0],
        "mean": run.mean,
        "std": run.std,
        "batchnorm_recalibrated_layers": recalibrated,
        "config": asdict(config),
    }
    last = progress.history[-1] if progress.history else {}
    result = {
        "model": config.model,
        "images": len(run.images),
        "epochs_run": len(progress.history),
        "final_loss": last.get("train_loss"),
        "images_per_s": float(np.median([h["images_per_s"] for h in progress.history]))
        if progress.history
        else None,
        "wall_time_s": wall_s,
        "device": str(run.runtime.device),
        "world_size": run.runtime.world_size,
        "params_encoder": sum(p.numel() for p in encoder.parameters()),
        # the decoder (mim) or projection head (contrastive), discarded after pretraining
        "params_decoder": sum(p.numel() for p in run.model.parameters())
        - sum(p.numel() for p in encoder.parameters()),
        "pretrained": str(out),
        "recipe": recipe,
        "history": progress.history,
    }
    if run.runtime.is_main:
        from hybridnets.pretrained import save_pretrained

        encoder.pretrained_cfg.update(
            {
                "mean": run.mean,
                "std": run.std,
                "tag": f"{config.model}.{config.objective}",
                "source": str(out),
            }
        )
        save_pretrained(encoder, out)
        write_record(out, "backbone", recipe)
        atomic_write_text(out / "result.json", json.dumps(result, indent=2) + "\n")
    barrier(run.runtime)
    return result


def pretrain(config: PretrainConfig) -> dict[str, Any]:
    """Pretrain ``config.model`` on ``config.data`` without labels; returns (and, on rank 0,
    writes) the result: loss per epoch, images/s, wall time, the pretrained folder.

    Raises:
        NotADirectoryError, FileExistsError, PermissionError: Before training, when the
            outputs could not be written under ``out_dir``.
        FileNotFoundError, ValueError: A data source is missing or does not fit.
    """
    return launch_run(config, _pretrain, files=("model.safetensors", "result.json", STATE_FILE))


def _pretrain(config: PretrainConfig, runtime: Runtime, stop: StopRequest, start: float) -> dict:
    generator = seed_everything(config.seed)
    run = _setup(config, runtime)
    path = Path(config.out_dir) / STATE_FILE
    what = (
        f"mask {config.mask_style} {100 * config.mask_ratio:.0f}% of "
        f"{run.model.mask_patch} px patches"
        if isinstance(run.model, MaskedImageModel)
        else f"contrastive views, temperature {config.temperature}"
    )
    _logger.info(
        "pretraining %s on %d images %s, %s",
        config.model,
        len(run.images),
        tuple(run.images.images.shape[1:]),
        what,
    )
    return Trainer(run, config, path).fit(generator, stop, start)
