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

import copy
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hybridnets.atomic import atomic_write_text
from hybridnets.checkpoint.classifier import save_checkpoint
from hybridnets.data import RandomFlipAffine
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
    Progress,
    engine_for,
    launch_run,
    run_epoch,
    save_run_state,
    start_progress,
    steps_per_epoch,
)
from hybridnets.engine.selection import is_better, loss_auc
from hybridnets.engine.signals import StopRequest
from hybridnets.inference import predict, scores
from hybridnets.metrics import best_threshold, classification_metrics
from hybridnets.multimodal.fusion import FusionClassifier
from hybridnets.multimodal.lora import add_lora, save_adapters
from hybridnets.resolve import create_model, model_source, pretrained_kwargs
from hybridnets.train.batches import (
    class_weights,
    epoch_order,
    prior_logits,
    stratified_subset,
)
from hybridnets.train.config import TrainConfig
from hybridnets.train.data import load_splits
from hybridnets.train.models import classifier_of

__all__ = ["STATE_FILE", "train"]

STATE_FILE = "state.pt"
"""Training state in ``out_dir``, after every epoch or on a stop (removed when the run completes)."""
# config fields that do not change what a run computes: a resumed run may differ in these
_RESUME_FREE = ("out_dir", "progress", "num_threads", "resume", "fsdp", "grad_checkpointing")

_logger = logging.getLogger(__name__)

INTENSITY_NPZ = "uint8 / 255"
INTENSITY_FILES = (
    "uint8 files / 255, other files rescaled from their 0.5th-99.5th percentile to [0, 1]; "
    "then quantised to uint8 at the input size"
)
"""The ``intensity`` rule a checkpoint records; standardisation by ``mean`` / ``std`` follows."""
TABLE_FIELDS = ("image_col", "label_col", "group_col", "split_col", "seed")


@dataclass
class _Run:
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
    augment: RandomFlipAffine | None
    steps_per_epoch: int
    params: int
    trainable_params: int
    recipe: dict[str, Any]
    tabular: TabularPreprocessor | None = None

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    def predict(self, ds: ImageArray) -> np.ndarray:
        """Softmax probabilities of the weights being evaluated (the EMA when kept), each rank
        predicting its shard and all of them gathered in order."""
        index = shard_index(len(ds), self.runtime)
        probs = predict(
            self.engine.eval_model, ds, self.device, self.config.resize, self.engine.amp, index
        )
        probs = torch.from_numpy(probs).to(self.device)
        return gather_rows(probs, len(ds), self.runtime).cpu().numpy()


@dataclass
class _Progress(Progress):
    """The supervised recipe's bookkeeping: the selector's best score, epoch and weights."""

    TENSORS: ClassVar[tuple[str, ...]] = ("epoch_rng", "best_state")

    best: dict[str, float] | None = None
    best_epoch: int = 0
    stale: int = 0
    best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)


def _build_model(
    config: TrainConfig,
    train_ds: ImageArray,
    tabular: TabularPreprocessor | None = None,
    load_weights: bool = True,
    prior: torch.Tensor | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """The model (from ``config.pretrained`` weights when given and ``load_weights``; a
    :class:`FusionClassifier` when clinical columns are fused; its classifier's bias set to
    ``prior`` logits when given, before any LoRA wrapping) and the recipe record saved beside
    its checkpoint (enough to rebuild it)."""
    kwargs = dict(config.model_kwargs)
    if config.drop_path_rate is not None and model_source(config.model) != "monai":
        kwargs["drop_path_rate"] = config.drop_path_rate
    if load_weights:  # the classifier starts fresh
        kwargs |= pretrained_kwargs(config.model, config.pretrained)
    shape = (train_ds.spatial_dims, train_ds.in_chans, train_ds.num_classes)
    if tabular is None:
        model = create_model(config.model, *shape, **kwargs)
    else:
        model = FusionClassifier(
            config.model, *shape, tabular.spec, config.fusion, config.fusion_dim, **kwargs
        )
    if prior is not None:
        _set_prior_bias(model, prior)
    if config.lora_rank is not None:
        if model_source(config.model) != "hybridnets" or tabular is not None:
            raise ValueError(
                f"--lora-rank adapts hybridnets image models; {config.model!r}"
                f"{' with --tabular' if tabular is not None else ''} is not one (train it fully)"
            )
        model = add_lora(model, config.lora_rank)
    recipe = {
        "model": config.model,
        "model_kwargs": dict(config.model_kwargs),
        "spatial_dims": train_ds.spatial_dims,
        "in_chans": train_ds.in_chans,
        "num_classes": train_ds.num_classes,
        "input_size": config.resize or train_ds.spatial_shape[0],
        "resize": config.resize,
        "data": train_ds.name,
        "pretrained": config.pretrained,
        "kind": "classifier" if tabular is None else "fusion",
        "classes": getattr(train_ds, "classes", None)
        or [str(k) for k in range(train_ds.num_classes)],
        "intensity": INTENSITY_NPZ if not config.is_table else INTENSITY_FILES,
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
        augment=RandomFlipAffine(train_ds.spatial_dims) if config.augment else None,
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


def _step(run: _Run, index: torch.Tensor, generator: torch.Generator) -> float:
    """One step on the global batch ``index``. Every rank prepares and augments the whole batch
    (the same random draws as one process would make), then trains on its part, its loss
    weighted by its share of the batch so that DDP's gradient average is the global mean."""
    x = run.train_ds.batch(index, run.config.resize, run.device)
    if run.augment is not None:
        x = run.augment(x, generator)
    y = run.train_ds.labels[index].to(run.device)
    part = batch_part(len(index), run.runtime)
    extra = [t.to(run.device)[part] for t in run.train_ds.extra_inputs(index)]
    x, y = x[part], y[part]
    share = len(y) * run.runtime.world_size / len(index)

    def loss_fn(model: nn.Module) -> torch.Tensor:
        return run.criterion(model(x, *extra).float(), y) * share

    return mean_over_ranks(run.engine.step(loss_fn), run.runtime)  # the global batch's loss


def _train_epoch(
    run: _Run, progress: _Progress, generator: torch.Generator, stop: StopRequest, state_path: Path
) -> float:
    """One pass over the training subset (from ``progress.step`` when resuming mid-epoch);
    returns the mean training loss. On a stop request, saves a mid-epoch state and raises
    :class:`TrainingStopped`."""

    def draw(gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        order = epoch_order(run.train_index, run.sample_weights, gen)
        return order.split(run.config.batch_size)[: run.steps_per_epoch]

    return run_epoch(
        progress,
        draw,
        lambda batch: _step(run, batch, generator),
        generator,
        stop,
        run.runtime,
        lambda: _save_progress(state_path, run, progress, generator),
    )


def _validate(run: _Run, epoch: int, train_loss: float) -> tuple[dict, dict[str, float]]:
    """The history row of an epoch (val, and with ``log_test`` test, scores) and val scores."""
    val = scores(run.val_ds.labels.numpy(), run.predict(run.val_ds))
    row = {"epoch": epoch, "train_loss": train_loss} | {f"val_{k}": v for k, v in val.items()}
    if run.config.log_test:
        test = scores(run.test_ds.labels.numpy(), run.predict(run.test_ds))
        row |= {f"test_{k}": v for k, v in test.items()}
    return row, val


def _save_progress(path: Path, run: _Run, progress: _Progress, generator: torch.Generator) -> None:
    save_run_state(path, run.runtime, run.config, progress, run.engine, generator)


def _finish(run: _Run, progress: _Progress, wall_s: float) -> dict:
    """Load the selected weights, score val and test, save the checkpoint and result.json."""
    config, out_dir = run.config, Path(run.config.out_dir)
    weights = progress.best_state
    if weights is not None:
        run.engine.load_eval_state_dict(weights)
    else:
        weights = run.engine.eval_state_dict()  # collective under FSDP: on every rank
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
        if config.lora_rank is not None:  # the adapters alone, then a plain merged model
            save_adapters(model, out_dir / "lora")
            model = model.merge_and_unload()
        save_checkpoint(model, out_dir / "best", run.recipe | {"threshold": threshold})
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
    SIGINT arrives (then :class:`TrainingStopped` exits with code 143); an interrupted run
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
    state_path = Path(config.out_dir) / STATE_FILE
    progress = start_progress(
        state_path, config, _RESUME_FREE, run.engine, generator, runtime, _Progress
    )
    _logger.info(
        "training %s (%.2fM params) on %s, %d samples, global batch %d over %d process(es)",
        config.model,
        run.params / 1e6,
        run.train_ds.name,
        len(run.train_index),
        config.batch_size,
        runtime.world_size,
    )
    done = config.patience is not None and progress.stale >= config.patience
    epochs = range(progress.epoch + 1, config.epochs + 1) if not done else range(0)
    bar = tqdm(epochs, desc=config.model, disable=not (config.progress and runtime.is_main))
    for epoch in bar:
        progress.elapsed_s += time.perf_counter() - start
        start = time.perf_counter()
        tic = time.perf_counter()
        train_loss = _train_epoch(run, progress, generator, stop, state_path)
        train_s = time.perf_counter() - tic
        row, val = _validate(run, epoch, train_loss)
        row["train_s"] = train_s  # the training pass alone (throughput)
        elapsed = progress.elapsed_s + time.perf_counter() - start
        progress.history.append(row | {"time_s": elapsed})
        val["loss_auc"] = progress.history[-1]["val_loss_auc"] = loss_auc(progress.history)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_auc=f"{val['auc']:.3f}")
        if runtime.is_main:
            _logger.info("epoch %d/%d %s", epoch, config.epochs, progress.history[-1])
        progress.epoch = epoch
        if is_better(config.select, val, progress.best):
            progress.best, progress.best_epoch, progress.stale = val, epoch, 0
            if config.select != "last":
                progress.best_state = copy.deepcopy(run.engine.eval_state_dict())
        else:
            progress.stale += 1
        _save_progress(state_path, run, progress, generator)
        if config.patience is not None and progress.stale >= config.patience:
            _logger.info("early stop at epoch %d (best %d)", epoch, progress.best_epoch)
            break
    progress.elapsed_s += time.perf_counter() - start
    result = _finish(run, progress, progress.elapsed_s)
    if runtime.is_main:
        state_path.unlink(missing_ok=True)
    return result
