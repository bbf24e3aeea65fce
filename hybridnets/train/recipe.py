"""Supervised training recipe for MedMNIST-format data, 2D and 3D, any backbone.

One recipe for every model (ours and the baselines), tuned once on PneumoniaMNIST,
RetinaMNIST and AdrenalMNIST3D (benchmarks/results/medmnist.md): inputs standardised with
the training split's statistics, AdamW through timm's parameter groups (no decay on norms,
biases and ``no_weight_decay()`` names; optional layer-wise LR decay), linear warm-up then
cosine decay per step, label smoothing, batched random flips + small affine, bf16 autocast on
CUDA, timm's EMA of the weights (with warm-up), optional class balancing, and a checkpoint
selector. Metrics follow MedMNIST v2 (Yang et al., Scientific Data 2023): ACC of the argmax
and one-vs-rest AUC.

    result = train(TrainConfig(model="convvit_n", data="pneumoniamnist.npz", epochs=30))
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hybridnets.atomic import atomic_write_text
from hybridnets.data import MedMNIST, RandomFlipAffine
from hybridnets.engine import (
    Engine,
    load_state,
    resolve_device,
    rng_state,
    save_state,
    seed_everything,
    set_rng_state,
)
from hybridnets.resolve import create_model, model_source
from hybridnets.train.batches import class_weights, epoch_order, prepare, stratified_subset
from hybridnets.train.config import TrainConfig
from hybridnets.train.evaluate import is_better, predict, scores
from hybridnets.train.metrics import best_threshold, classification_metrics
from hybridnets.train.models import save_checkpoint

__all__ = ["STATE_FILE", "train"]

STATE_FILE = "state.pt"
"""Per-epoch training state in ``out_dir`` (removed when the run completes)."""
# config fields that do not change what a run computes: a resumed run may differ in these
_RESUME_FREE = ("out_dir", "progress", "num_threads", "resume")

_logger = logging.getLogger(__name__)


@dataclass
class _Run:
    """Everything a run builds once: data, the training subset, the engine, the loss."""

    config: TrainConfig
    device: torch.device
    train_ds: MedMNIST
    val_ds: MedMNIST
    test_ds: MedMNIST
    train_index: torch.Tensor
    sample_weights: torch.Tensor | None
    engine: Engine
    criterion: nn.Module
    augment: RandomFlipAffine | None
    steps_per_epoch: int
    params: int
    recipe: dict[str, Any]

    def predict(self, ds: MedMNIST) -> np.ndarray:
        """Softmax probabilities of the weights being evaluated (the EMA when kept)."""
        return predict(
            self.engine.eval_model, ds, self.device, self.config.resize, amp=self.engine.amp
        )


@dataclass
class _Progress:
    """The recipe's bookkeeping across epochs (saved with the engine state for resume)."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] | None = None
    best_epoch: int = 0
    stale: int = 0
    elapsed_s: float = 0.0


def _build_model(config: TrainConfig, train_ds: MedMNIST) -> tuple[nn.Module, dict[str, Any]]:
    """The model and the recipe record saved beside its checkpoint (enough to rebuild it)."""
    kwargs = dict(config.model_kwargs)
    if config.drop_path_rate is not None and model_source(config.model) != "monai":
        kwargs["drop_path_rate"] = config.drop_path_rate
    model = create_model(
        config.model, train_ds.spatial_dims, train_ds.in_chans, train_ds.num_classes, **kwargs
    )
    recipe = {
        "model": config.model,
        "model_kwargs": dict(config.model_kwargs),
        "spatial_dims": train_ds.spatial_dims,
        "in_chans": train_ds.in_chans,
        "num_classes": train_ds.num_classes,
        "input_size": config.resize or train_ds.spatial_shape[0],
        "resize": config.resize,
        "data": train_ds.name,
    }
    return model, recipe


def _setup(config: TrainConfig, generator: torch.Generator) -> _Run:
    """Data (standardised with training statistics), subset, model, engine and loss."""
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device)
    train_ds, val_ds, test_ds = (MedMNIST(config.data, s) for s in ("train", "val", "test"))
    mean, std = train_ds.channel_stats() if config.normalize else (None, None)
    for ds in (train_ds, val_ds, test_ds):
        ds.set_normalization(mean, std)
    n_train = config.max_train_samples or len(train_ds)
    train_index = stratified_subset(train_ds.labels, n_train, generator)
    train_labels = train_ds.labels[train_index]
    weights = class_weights(train_labels, train_ds.num_classes)
    model, recipe = _build_model(config, train_ds)
    # a last batch of one sample is dropped: batch-norm layers cannot use its statistics
    steps_per_epoch = len(train_index) // config.batch_size
    steps_per_epoch += len(train_index) % config.batch_size > 1
    if steps_per_epoch == 0:
        raise ValueError(f"training needs at least 2 samples, got {len(train_index)}")
    engine = Engine(
        model,
        device,
        lr=config.lr,
        weight_decay=config.weight_decay,
        total_steps=steps_per_epoch * config.epochs,
        warmup_steps=round(config.warmup_epochs * steps_per_epoch),
        min_lr_ratio=config.min_lr_ratio,
        layer_decay=config.layer_decay,
        clip_grad=config.clip_grad,
        ema_decay=config.ema_decay,
        amp=config.amp,
    )
    criterion = nn.CrossEntropyLoss(
        weight=weights.to(device) if config.class_balance == "loss" else None,
        label_smoothing=config.label_smoothing,
    )
    return _Run(
        config=config,
        device=device,
        train_ds=train_ds,
        val_ds=val_ds,
        test_ds=test_ds,
        train_index=train_index,
        sample_weights=weights[train_labels] if config.class_balance == "sampler" else None,
        engine=engine,
        criterion=criterion,
        augment=RandomFlipAffine(train_ds.spatial_dims) if config.augment else None,
        steps_per_epoch=steps_per_epoch,
        params=sum(p.numel() for p in model.parameters()),
        recipe=recipe | {"mean": mean, "std": std},
    )


def _train_epoch(run: _Run, generator: torch.Generator) -> float:
    """One pass over the training subset; returns the mean training loss."""
    losses = []
    order = epoch_order(run.train_index, run.sample_weights, generator)
    for index in order.split(run.config.batch_size)[: run.steps_per_epoch]:
        x = prepare(run.train_ds, index, run.config.resize, run.device)
        if run.augment is not None:
            x = run.augment(x, generator)
        y = run.train_ds.labels[index].to(run.device)
        losses.append(run.engine.step(lambda m, x=x, y=y: run.criterion(m(x).float(), y)))
    return float(np.mean(losses))


def _validate(run: _Run, epoch: int, train_loss: float) -> tuple[dict, dict[str, float]]:
    """The history row of an epoch (val, and with ``log_test`` test, scores) and val scores."""
    val = scores(run.val_ds.labels.numpy(), run.predict(run.val_ds))
    row = {"epoch": epoch, "train_loss": train_loss} | {f"val_{k}": v for k, v in val.items()}
    if run.config.log_test:
        test = scores(run.test_ds.labels.numpy(), run.predict(run.test_ds))
        row |= {f"test_{k}": v for k, v in test.items()}
    return row, val


def _save_progress(
    path: Path,
    run: _Run,
    progress: _Progress,
    best_state: dict[str, torch.Tensor] | None,
    generator: torch.Generator,
) -> None:
    state = {
        "config": json.dumps(asdict(run.config)),
        "progress": json.dumps(asdict(progress)),
        "engine": run.engine.state_dict(),
        "rng": rng_state(generator),
    }
    if best_state is not None:
        state["best_state"] = best_state
    save_state(path, state)


def _resume(
    path: Path, run: _Run, generator: torch.Generator
) -> tuple[_Progress, dict[str, torch.Tensor] | None]:
    """Load ``path`` into the engine and ``generator``; refuse a state from other settings."""
    state = load_state(path)
    saved, current = json.loads(state["config"]), asdict(run.config)
    differ = sorted(k for k in current if k not in _RESUME_FREE and saved.get(k) != current[k])
    if differ:
        raise ValueError(
            f"{path} holds an interrupted run with other settings ({', '.join(differ)}); "
            "use another --out, delete the file, or pass --no-resume to start over"
        )
    run.engine.load_state_dict(state["engine"])
    set_rng_state(generator, state["rng"])
    progress = _Progress(**json.loads(state["progress"]))
    _logger.info("resuming %s after epoch %d", path.parent, progress.epoch)
    return progress, state.get("best_state")


def _finish(run: _Run, progress: _Progress, best_state: dict | None, wall_s: float) -> dict:
    """Load the selected weights, score val and test, save the checkpoint and result.json."""
    config, out_dir = run.config, Path(run.config.out_dir)
    eval_model = run.engine.eval_model
    if best_state is not None:
        eval_model.load_state_dict(best_state)
    val_labels, test_labels = run.val_ds.labels.numpy(), run.test_ds.labels.numpy()
    val_probs, test_probs = run.predict(run.val_ds), run.predict(run.test_ds)
    binary = run.train_ds.num_classes == 2
    threshold = best_threshold(val_labels, val_probs) if binary else None
    checkpoint = save_checkpoint(eval_model, out_dir / "best", run.recipe)
    result = {
        "model": config.model,
        "data": run.train_ds.name,
        "params": run.params,
        "train_samples": len(run.train_index),
        "epochs_run": len(progress.history),
        "best_epoch": progress.best_epoch,
        "threshold": threshold,
        "val": classification_metrics(val_labels, val_probs, threshold),
        "test": classification_metrics(test_labels, test_probs, threshold),
        "wall_time_s": wall_s,
        "device": str(run.device),
        "checkpoint": str(checkpoint),
        "config": asdict(config),
        "history": progress.history,
    }
    atomic_write_text(out_dir / "result.json", json.dumps(result, indent=2))
    _logger.info("test %s", result["test"])
    return result


def train(config: TrainConfig) -> dict[str, Any]:
    """Train ``config.model`` on ``config.data``; returns (and writes) the result dict.

    The result holds val/test ACC and AUC of the selected weights (``config.select``), the
    binary test ACC at the threshold chosen on validation, epochs run, wall time, parameter
    count, the per-epoch history and the checkpoint folder. After every epoch the training
    state is saved to ``out_dir/state.pt``; an interrupted run started again with the same
    settings continues from there and ends with the same result.
    """
    start = time.perf_counter()
    generator = seed_everything(config.seed)
    run = _setup(config, generator)
    state_path = Path(config.out_dir) / STATE_FILE
    progress, best_state = _Progress(), None
    if config.resume and state_path.is_file():
        progress, best_state = _resume(state_path, run, generator)
    if not config.resume:
        state_path.unlink(missing_ok=True)
    _logger.info(
        "training %s (%.2fM params) on %s, %d samples",
        config.model,
        run.params / 1e6,
        run.train_ds.name,
        len(run.train_index),
    )
    done = config.patience is not None and progress.stale >= config.patience
    epochs = range(progress.epoch + 1, config.epochs + 1) if not done else range(0)
    bar = tqdm(epochs, desc=config.model, disable=not config.progress)
    for epoch in bar:
        row, val = _validate(run, epoch, _train_epoch(run, generator))
        elapsed = progress.elapsed_s + time.perf_counter() - start
        progress.history.append(row | {"time_s": elapsed})
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_auc=f"{val['auc']:.3f}")
        _logger.info("epoch %d/%d %s", epoch, config.epochs, progress.history[-1])
        progress.epoch = epoch
        if is_better(config.select, val, progress.best):
            progress.best, progress.best_epoch, progress.stale = val, epoch, 0
            if config.select != "last":
                best_state = copy.deepcopy(run.engine.eval_model.state_dict())
        else:
            progress.stale += 1
        saved = _Progress(**{**asdict(progress), "elapsed_s": elapsed})
        _save_progress(state_path, run, saved, best_state, generator)
        if config.patience is not None and progress.stale >= config.patience:
            _logger.info("early stop at epoch %d (best %d)", epoch, progress.best_epoch)
            break
    result = _finish(run, progress, best_state, progress.elapsed_s + time.perf_counter() - start)
    state_path.unlink(missing_ok=True)
    return result
