"""Supervised training recipe for MedMNIST-format data and tables of images (with clinical
columns fused into the model), 2D and 3D, any backbone.

One recipe for every model (ours and the baselines), tuned once on PneumoniaMNIST,
RetinaMNIST and AdrenalMNIST3D (benchmarks/results/medmnist.md): inputs standardised with
the training split's statistics, AdamW through timm's parameter groups (no decay on norms,
biases and ``no_weight_decay()`` names; optional layer-wise LR decay), linear warm-up then
cosine decay per step, label smoothing, the classifier's bias started at the log class prior,
batched random flips + small affine, bf16 autocast on CUDA, timm's EMA of the weights (with
warm-up), optional class balancing, and a checkpoint selector. Metrics follow MedMNIST v2
(Yang et al., Scientific Data 2023): ACC of the argmax and one-vs-rest AUC.

The same code runs in one process or under ``torchrun --nproc_per_node N`` (DDP, or FSDP2 with
``fsdp``): ``batch_size`` is the global batch, split over the ranks (no gradient accumulation),
and each rank's loss is its share of the global mean, so N processes take the same steps as one;
validation and test predictions are gathered from all ranks before metrics; only rank 0 writes.
The training state is saved after every epoch and on SIGTERM/SIGINT (mid-epoch), and a run
started again with the same settings continues from it to the same result.

    result = train(TrainConfig(model="convvit_n", data="pneumoniamnist.npz", epochs=30))
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hybridnets.atomic import atomic_write_text
from hybridnets.checkpoint.classifier import save_checkpoint
from hybridnets.data import TrainAugment
from hybridnets.data.arrays import ImageArray
from hybridnets.data.tabular import TabularPreprocessor
from hybridnets.engine import (
    Engine,
    Runtime,
    barrier,
    batch_part,
    gather_rows,
    mean_over_ranks,
    seed_everything,
    shard_index,
)
from hybridnets.engine.loop import (
    engine_for,
    launch_run,
    steps_per_epoch,
)
from hybridnets.engine.signals import StopRequest
from hybridnets.engine.trainer import RecipeTask, Trainer, TrainerProgress
from hybridnets.inference import predict, scores
from hybridnets.metrics import best_threshold, classification_metrics
from hybridnets.multimodal.fusion import FusionClassifier, use_clinical_columns
from hybridnets.multimodal.lora import add_lora, save_adapters
from hybridnets.resolve import create_model, model_source
from hybridnets.train.batches import (
    auto_epochs,
    class_weights,
    epoch_order,
    mix_batch,
    prior_logits,
    stratified_subset,
)
from hybridnets.train.config import TrainConfig
from hybridnets.train.data import load_splits
from hybridnets.train.models import classifier_of

__all__ = ["STATE_FILE", "train"]

STATE_FILE = "state.pt"
"""Training state in ``out_dir``, after every epoch or on a stop (removed when the run completes)."""

_logger = logging.getLogger(__name__)

INTENSITY_NPZ = "uint8 / 255"
INTENSITY_FILES = (
    "uint8 files / 255, other files rescaled from their 0.5th-99.5th percentile to [0, 1]; "
    "then quantised to uint8 at the input size"
)
"""The ``intensity`` rule a checkpoint records; standardisation by ``mean`` / ``std`` follows."""
TABLE_FIELDS = ("image_col", "label_col", "group_col", "split_col", "seed", "allow_outside_paths")


@dataclass
class _Run(RecipeTask):
    """Everything a run builds once: runtime, data, the training subset, the engine, the loss."""

    config: TrainConfig
    runtime: Runtime
    train_ds: ImageArray
    val_ds: ImageArray
    test_ds: ImageArray
    train_index: torch.Tensor
    sample_weights: torch.Tensor | None
    engine: Engine
    criterion: nn.Module
    augment: TrainAugment | None
    steps_per_epoch: int
    params: int
    trainable_params: int
    recipe: dict[str, Any]
    tabular: TabularPreprocessor | None = None

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    def batches(self, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """This epoch's batches: a permutation (or a class-balanced draw) of the subset."""
        order = epoch_order(self.train_index, self.sample_weights, generator)
        return order.split(self.config.batch_size)[: self.steps_per_epoch]

    def step(self, index: torch.Tensor, generator: torch.Generator) -> float:
        """One step on the global batch ``index``. Every rank prepares and augments the whole
        batch (the same random draws as one process would make), then trains on its part, its
        loss weighted by its share of the batch so that DDP's gradient average is the global
        mean."""
        x = self.train_ds.batch(index, self.device, self.config.input_size)
        if self.augment is not None:
            x = self.augment(x, generator)
        y = self.train_ds.labels[index].to(self.device)
        if self.config.mixup > 0:
            x, y = mix_batch(x, y, self.train_ds.num_classes, self.config.mixup, generator)
        part = batch_part(len(index), self.runtime)
        extra = [t.to(self.device)[part] for t in self.train_ds.extra_inputs(index)]
        x, y = x[part], y[part]
        share = len(y) * self.runtime.world_size / len(index)

        def loss_fn(model: nn.Module) -> torch.Tensor:
            return self.criterion(model(x, *extra).float(), y) * share

        return mean_over_ranks(self.engine.step(loss_fn), self.runtime)  # the global batch's

    @property
    def weighs_table(self) -> bool:
        """Whether validation also scores the model without its clinical columns, to keep
        them only where they help (``table_fallback`` with ``tabular``)."""
        return self.tabular is not None and self.config.table_fallback

    @property
    def rivals(self) -> tuple[str, ...]:
        """With :attr:`weighs_table`, the image path alone (``val_image_*``): the Trainer keeps
        its own best epoch, and the image path when that scores better than the fused model's
        best."""
        return ("image",) if self.weighs_table else ()

    def validate(self, epoch: int) -> dict[str, float]:
        """Validation (and with ``log_test`` test) scores of the weights being evaluated;
        with :attr:`weighs_table` also without the clinical columns (``val_image_*``)."""
        splits = [("val", self.val_ds)] + [("test", self.test_ds)] * self.config.log_test
        row = {}
        for use_table in (True, False) if self.weighs_table else (True,):
            use_clinical_columns(self.engine.eval_model, use_table)
            for name, ds in splits:
                prefix = name if use_table else f"{name}_image"
                found = scores(ds.labels.numpy(), self.predict(ds))
                row |= {f"{prefix}_{k}": v for k, v in found.items()}
        use_clinical_columns(self.engine.eval_model, True)
        return row

    def finish(self, progress: TrainerProgress, wall_s: float) -> dict[str, Any]:
        return _finish(self, progress, wall_s)

    def predict(self, ds: ImageArray) -> np.ndarray:
        """Softmax probabilities of the weights being evaluated (the EMA when kept), each rank
        predicting its shard and all of them gathered in order."""
        index = shard_index(len(ds), self.runtime)
        model, config = self.engine.eval_model, self.config
        probs = predict(
            model, ds, self.device, config.input_size, self.engine.amp, index,
            tta=config.tta_views,
        )  # fmt: skip
        probs = torch.from_numpy(probs).to(self.device)
        return gather_rows(probs, len(ds), self.runtime).cpu().numpy()


def _build_model(
    config: TrainConfig,
    train_ds: ImageArray,
    tabular: TabularPreprocessor | None = None,
    load_weights: bool = True,
    prior: torch.Tensor | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """The model (from ``config.pretrained`` weights when given and ``load_weights``; a
    :class:`FusionClassifier` when clinical columns are fused, withholding them from
    ``table_dropout`` of the samples in training; its classifier's bias set to
    ``prior`` logits when given, before any LoRA wrapping) and the recipe record saved beside
    its checkpoint (enough to rebuild it)."""
    size = config.input_size or train_ds.spatial_shape
    kwargs = config.build_kwargs(size, load_weights)  # the classifier starts fresh
    shape = (train_ds.spatial_dims, train_ds.in_chans, train_ds.num_classes)
    if tabular is None:
        model = create_model(config.model, *shape, **kwargs)
    else:
        model = FusionClassifier(
            config.model, *shape, tabular.spec, config.fusion, config.fusion_dim,
            table_dropout=config.table_dropout, **kwargs,
        )  # fmt: skip
    if prior is not None:
        _set_prior_bias(model, prior)
    if config.lora_rank is not None:
        if model_source(config.model) != "hybridnets" or tabular is not None:
            raise ValueError(
                f"`lora_rank` adapts hybridnets image models; {config.model!r}"
                f"{' with `tabular`' if tabular is not None else ''} is not one (train it fully)"
            )
        model = add_lora(model, config.lora_rank)
    recipe = {
        "model": config.model,
        "model_kwargs": config.architecture(size),
        "spatial_dims": train_ds.spatial_dims,
        "in_chans": train_ds.in_chans,
        "num_classes": train_ds.num_classes,
        "input_size": config.input_size or train_ds.spatial_shape[0],
        "resize": config.input_size,  # None: .npz images at their own size
        "data": train_ds.name,
        "pretrained": config.pretrained,
        "kind": "classifier" if tabular is None else "fusion",
        "classes": getattr(train_ds, "classes", None)
        or [str(k) for k in range(train_ds.num_classes)],
        "intensity": INTENSITY_NPZ if not config.is_table else INTENSITY_FILES,
        "tta": config.tta_views,
    }
    if config.is_table:  # how hybridnets.predict reads a table and finds this run's split
        recipe |= {k: getattr(config, k) for k in TABLE_FIELDS}
    if tabular is not None:
        fused = {"fusion": config.fusion, "fusion_dim": config.fusion_dim}
        recipe |= fused | {"tabular": tabular.to_dict()}
    return model, recipe


def _setup(config: TrainConfig, generator: torch.Generator, runtime: Runtime) -> _Run:
    """Data (standardised with training statistics), subset, model, engine and loss."""
    if config.batch_size < runtime.world_size:
        raise ValueError(
            f"batch_size {config.batch_size} is the global batch and must be at least the "
            f"number of processes ({runtime.world_size})"
        )
    train_ds, val_ds, test_ds, tabular = load_splits(config)
    mean, std = train_ds.channel_stats() if config.normalize else (None, None)
    for ds in (train_ds, val_ds, test_ds):
        ds.set_normalization(mean, std)
    n_train = config.max_train_samples or len(train_ds)
    train_index = stratified_subset(train_ds.labels, n_train, generator)
    if config.epochs is None:  # from here on, the run's settings hold the number used
        config = replace(config, epochs=auto_epochs(len(train_index)))
        _logger.info("epochs: %d for %d training samples", config.epochs, len(train_index))
    train_labels = train_ds.labels[train_index]
    weights = class_weights(train_labels, train_ds.num_classes)
    prior = None
    if config.prior_bias and config.class_balance == "none":
        prior = prior_logits(train_labels, train_ds.num_classes, config.label_smoothing)
    model, recipe = _build_model(config, train_ds, tabular, prior=prior)
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    steps = steps_per_epoch(len(train_index), config.batch_size, runtime.world_size)
    engine = engine_for(model, runtime, config, steps)
    criterion = nn.CrossEntropyLoss(
        weight=weights.to(runtime.device) if config.class_balance == "loss" else None,
        label_smoothing=config.label_smoothing,
    )
    return _Run(
        config=config,
        runtime=runtime,
        train_ds=train_ds,
        val_ds=val_ds,
        test_ds=test_ds,
        train_index=train_index,
        sample_weights=weights[train_labels] if config.class_balance == "sampler" else None,
        engine=engine,
        criterion=criterion,
        augment=TrainAugment(train_ds.spatial_dims, config.intensity) if config.augment else None,
        steps_per_epoch=steps,
        params=params,
        trainable_params=trainable,
        recipe=recipe | {"mean": mean, "std": std},
        tabular=tabular,
    )


def _set_prior_bias(model: nn.Module, logits: torch.Tensor) -> None:
    """Copy ``logits`` into the classifier's bias (a note in the log when it has none)."""
    head = classifier_of(model)
    if head is None or head.bias is None or head.out_features != len(logits):
        _logger.info(
            "prior_bias: %s has no linear classifier with a bias; left as built",
            type(model).__name__,
        )
        return
    with torch.no_grad():
        head.bias.copy_(logits.to(head.bias))


def _finish(run: _Run, progress: TrainerProgress, wall_s: float) -> dict:
    """Score val and test with the selected weights (loaded by the Trainer), save the
    checkpoint and result.json."""
    config, out_dir = run.config, Path(run.config.out_dir)
    weights = run.engine.eval_state_dict()  # collective under FSDP: on every rank
    use_table = None if run.tabular is None else True
    if run.weighs_table:
        use_table = progress.kept != "image"
        use_clinical_columns(run.engine.eval_model, use_table)
    val_labels, test_labels = run.val_ds.labels.numpy(), run.test_ds.labels.numpy()
    val_probs, test_probs = run.predict(run.val_ds), run.predict(run.test_ds)
    binary = run.train_ds.num_classes == 2
    threshold = best_threshold(val_labels, val_probs) if binary else None
    result = {
        "model": config.model,
        "data": run.train_ds.name,
        "params": run.params,
        "trainable_params": run.trainable_params,
        "train_samples": len(run.train_index),
        "epochs_run": len(progress.history),
        "best_epoch": progress.best_epoch,
        "threshold": threshold,
        "table_used": use_table,
        "val": classification_metrics(val_labels, val_probs, threshold),
        "test": classification_metrics(test_labels, test_probs, threshold),
        "wall_time_s": wall_s,
        "device": str(run.device),
        "world_size": run.runtime.world_size,
        "global_batch_size": config.batch_size,
        "checkpoint": str(out_dir / "best"),
        "config": asdict(config),
        "history": progress.history,
    }
    if run.runtime.is_main:
        model, _ = _build_model(config, run.train_ds, run.tabular, load_weights=False)
        model.load_state_dict(weights)
        if use_table is not None:
            use_clinical_columns(model, use_table)
        if config.lora_rank is not None:  # the adapters alone, then a plain merged model
            save_adapters(model, out_dir / "lora")
            model = model.merge_and_unload()
        record = run.recipe | {"threshold": threshold}
        if use_table is not None:
            record["use_table"] = use_table
        save_checkpoint(model, out_dir / "best", record)
        atomic_write_text(out_dir / "result.json", json.dumps(result, indent=2))
        _logger.info("test %s", result["test"])
    barrier(run.runtime)
    return result


def train(config: TrainConfig) -> dict[str, Any]:
    """Train ``config.model`` on ``config.data``; returns (and, on rank 0, writes) the result.

    The result holds val/test ACC and AUC of the selected weights (``config.select``), the
    binary test ACC at the threshold chosen on validation, epochs run, wall time, parameter
    count, world size and global batch, the per-epoch history and the checkpoint folder. The
    training state is saved to ``out_dir/state.pt`` after every epoch and when SIGTERM or
    SIGINT arrives (then :class:`~hybridnets.engine.TrainingStopped` exits with code 143); an interrupted run
    started again with the same settings continues from there and ends with the same result.

    Raises:
        NotADirectoryError, FileExistsError, PermissionError: Before training, when the
            outputs could not be written under ``out_dir`` (checked first).
        MedMNISTFormatError: Before training, when ``data`` is malformed or its labels are not
            ``0 .. num_classes - 1`` with every class in the training split.
    """
    return launch_run(config, _train, folders=("best",), files=("result.json", STATE_FILE))


def _train(config: TrainConfig, runtime: Runtime, stop: StopRequest, start: float) -> dict:
    generator = seed_everything(config.seed)
    run = _setup(config, generator, runtime)
    _logger.info(
        "training %s (%.2fM params) on %s, %d samples, global batch %d over %d process(es)",
        config.model,
        run.params / 1e6,
        run.train_ds.name,
        len(run.train_index),
        config.batch_size,
        runtime.world_size,
    )
    state_path = Path(config.out_dir) / STATE_FILE
    return Trainer(run, run.config, state_path).fit(generator, stop, start)
