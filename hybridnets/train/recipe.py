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
from dataclasses import replace as dataclasses_replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
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
from hybridnets.train.metrics import best_threshold, classification_metrics
from hybridnets.train.models import save_checkpoint

__all__ = [
    "CLASS_BALANCE",
    "SELECT",
    "STATE_FILE",
    "TrainConfig",
    "evaluate",
    "predict",
    "stratified_subset",
    "train",
]

CLASS_BALANCE = ("none", "loss", "sampler")
SELECT = ("last", "val_auc", "val_loss")
STATE_FILE = "state.pt"
"""Per-epoch training state in ``out_dir`` (removed when the run completes)."""
# config fields that do not change what a run computes: a resumed run may differ in these
_RESUME_FREE = ("out_dir", "progress", "num_threads", "resume")

_logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything one training run needs; serialised into ``result.json``.

    Args:
        model: hybridnets, monai_<resnet> or timm model name.
        data: MedMNIST-format .npz file.
        out_dir: Folder for result.json and the best/ checkpoint.
        epochs: Number of epochs (the cosine schedule spans them all).
        batch_size: Training batch size; the last incomplete batch is kept unless it has one
            sample.
        lr: Peak learning rate of AdamW.
        weight_decay: AdamW weight decay (not on norms, biases and the model's no_weight_decay()
            names).
        layer_decay: Layer-wise LR decay through the model's group_matcher (e.g. 0.75 when
            fine-tuning pretrained weights; None: off).
        clip_grad: Clip the global gradient norm to this value (None: no clipping).
        warmup_epochs: Linear warm-up length in epochs (may be fractional).
        min_lr_ratio: Final learning rate as a fraction of lr.
        label_smoothing: Cross-entropy label smoothing.
        drop_path_rate: Stochastic depth for hybridnets/timm models (None: the model's default).
        normalize: Standardise inputs with the training split's per-channel mean and std (stored in
            the checkpoint's recipe.json).
        augment: Random flips and small affine warps on training batches.
        ema_decay: Evaluate and save timm's EMA of the weights with this decay (warm-up makes early
            steps count less; None or 0: off).
        class_balance: none (plain loss), loss (class-weighted cross-entropy) or sampler (each
            epoch draws classes equally often).
        select: Weights reported and saved: last (the end of training), val_auc (epoch with the
            best validation AUC) or val_loss (lowest validation loss).
        patience: With select val_auc or val_loss, stop after this many epochs without a better
            validation score (None: never).
        seed: Seed for weights, subsets, shuffling and augmentation.
        resize: Train and evaluate at this edge length (bilinear/trilinear) instead of native.
        max_train_samples: Train on a stratified random subset of this many training samples.
        model_kwargs: Extra model constructor arguments as JSON (stem_stride, img_size, ...).
        device: auto (CUDA when available), cpu, cuda or cuda:N.
        amp: bf16 autocast on CUDA.
        progress: Show a tqdm progress bar.
        num_threads: CPU threads for torch (None: torch's default); 1 is fastest on a small machine
            shared with other jobs.
        log_test: Also evaluate the test split after every epoch into history (analysis of
            selectors only; never used to choose weights).
        resume: Continue an interrupted run from ``out_dir/state.pt`` (written after every
            epoch) when its settings match; off: start over.
    """

    model: str
    data: str
    out_dir: str = "runs/train"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.05
    layer_decay: float | None = None
    clip_grad: float | None = None
    warmup_epochs: float = 2.0
    min_lr_ratio: float = 0.01
    label_smoothing: float = 0.1
    drop_path_rate: float | None = None
    normalize: bool = True
    augment: bool = True
    ema_decay: float | None = 0.998
    class_balance: str = "none"
    select: str = "val_loss"
    patience: int | None = None
    seed: int = 0
    resize: int | None = None
    max_train_samples: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    amp: bool = True
    progress: bool = True
    num_threads: int | None = None
    log_test: bool = False
    resume: bool = True

    def __post_init__(self) -> None:
        if self.class_balance not in CLASS_BALANCE:
            raise ValueError(
                f"class_balance must be one of {CLASS_BALANCE}, got {self.class_balance!r}"
            )
        if self.select not in SELECT:
            raise ValueError(f"select must be one of {SELECT}, got {self.select!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def stratified_subset(labels: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of a random subset of ``n`` samples with the class proportions of ``labels``."""
    if n >= len(labels):
        return torch.randperm(len(labels), generator=generator)
    classes, counts = labels.unique(return_counts=True)
    quota = (counts.double() * n / len(labels)).floor().long().clamp_min(1)
    quota[(counts.double() * n / len(labels) - quota).argmax()] += n - quota.sum()
    picks = []
    for c, q in zip(classes, quota):
        members = torch.nonzero(labels == c).flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[:q]])
    index = torch.cat(picks)
    return index[torch.randperm(len(index), generator=generator)]


def _class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``N / (K · n_k)`` per class (1 for a balanced set); absent classes get 0."""
    counts = torch.bincount(labels, minlength=num_classes).double()
    weights = len(labels) / (num_classes * counts.clamp_min(1))
    return torch.where(counts > 0, weights, torch.zeros_like(weights)).float()


def _prepare(
    ds: MedMNIST, index: torch.Tensor, size: int | None, device: torch.device
) -> torch.Tensor:
    """uint8 images at ``index`` -> float batch ``(B, C, *S)`` on ``device``, resized if asked."""
    x = ds.normalize(ds.images[index].to(device))
    if size is not None and tuple(x.shape[2:]) != (size,) * ds.spatial_dims:
        mode = "bilinear" if ds.spatial_dims == 2 else "trilinear"
        x = F.interpolate(x, size=(size,) * ds.spatial_dims, mode=mode, align_corners=False)
    return x


@torch.no_grad()
def predict(
    model: nn.Module,
    ds: MedMNIST,
    device: torch.device,
    size: int | None = None,
    batch_size: int = 256,
    amp: bool = True,
) -> np.ndarray:
    """Softmax probabilities ``(N, K)`` of ``model`` on every sample of ``ds``."""
    model.eval()
    out = []
    for start in range(0, len(ds), batch_size):
        index = torch.arange(start, min(start + batch_size, len(ds)))
        x = _prepare(ds, index, size, device)
        with torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"
        ):
            logits = model(x)
        out.append(logits.float().softmax(-1).cpu())
    return torch.cat(out).numpy()


def evaluate(
    model: nn.Module, ds: MedMNIST, device: torch.device, size: int | None = None, **kwargs: Any
) -> dict[str, float]:
    """ACC and AUC of ``model`` on ``ds``."""
    return classification_metrics(ds.labels.numpy(), predict(model, ds, device, size, **kwargs))


def _build(config: TrainConfig, train_ds: MedMNIST) -> tuple[nn.Module, dict[str, Any]]:
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


def _epoch_order(
    train_index: torch.Tensor, weights: torch.Tensor | None, generator: torch.Generator
) -> torch.Tensor:
    """This epoch's sample order: a permutation, or (``weights``) a class-balanced draw."""
    if weights is None:
        return train_index[torch.randperm(len(train_index), generator=generator)]
    draw = torch.multinomial(weights, len(train_index), replacement=True, generator=generator)
    return train_index[draw]


def _scores(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """ACC, AUC and the mean cross-entropy (no smoothing) of predicted ``probs``."""
    loss = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean()
    return classification_metrics(labels, probs) | {"loss": float(loss)}


def _is_better(select: str, score: dict[str, float], best: dict[str, float] | None) -> bool:
    if best is None or select == "last":
        return True
    if select == "val_auc":  # ties (a saturated AUC on a tiny split) go to the lower loss
        return score["auc"] > best["auc"] or (
            score["auc"] == best["auc"] and score["loss"] < best["loss"]
        )
    return score["loss"] < best["loss"]


@dataclass
class _Progress:
    """The recipe's bookkeeping across epochs (saved with the engine state for resume)."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] | None = None
    best_epoch: int = 0
    stale: int = 0
    elapsed_s: float = 0.0


def _save_progress(
    path: Path,
    config: TrainConfig,
    engine: Engine,
    progress: _Progress,
    best_state: dict[str, torch.Tensor] | None,
    generator: torch.Generator,
) -> None:
    state = {
        "config": json.dumps(asdict(config)),
        "progress": json.dumps(asdict(progress)),
        "engine": engine.state_dict(),
        "rng": rng_state(generator),
    }
    if best_state is not None:
        state["best_state"] = best_state
    save_state(path, state)


def _resume(
    path: Path, config: TrainConfig, engine: Engine, generator: torch.Generator
) -> tuple[_Progress, dict[str, torch.Tensor] | None]:
    """Load ``path`` into ``engine`` and ``generator``; refuse a state from other settings."""
    state = load_state(path)
    saved, current = json.loads(state["config"]), asdict(config)
    differ = sorted(k for k in current if k not in _RESUME_FREE and saved.get(k) != current[k])
    if differ:
        raise ValueError(
            f"{path} holds an interrupted run with other settings ({', '.join(differ)}); "
            "use another --out, delete the file, or pass --no-resume to start over"
        )
    engine.load_state_dict(state["engine"])
    set_rng_state(generator, state["rng"])
    progress = _Progress(**json.loads(state["progress"]))
    _logger.info("resuming %s after epoch %d", path.parent, progress.epoch)
    return progress, state.get("best_state")


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
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device)
    train_ds, val_ds, test_ds = (MedMNIST(config.data, s) for s in ("train", "val", "test"))
    mean, std = train_ds.channel_stats() if config.normalize else (None, None)
    for ds in (train_ds, val_ds, test_ds):
        ds.set_normalization(mean, std)
    train_index = stratified_subset(
        train_ds.labels, config.max_train_samples or len(train_ds), generator
    )
    train_labels = train_ds.labels[train_index]
    class_weights = _class_weights(train_labels, train_ds.num_classes)

    model, recipe = _build(config, train_ds)
    recipe |= {"mean": mean, "std": std}
    n_params = sum(p.numel() for p in model.parameters())
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
    augment = RandomFlipAffine(train_ds.spatial_dims) if config.augment else None
    criterion = nn.CrossEntropyLoss(
        weight=class_weights.to(device) if config.class_balance == "loss" else None,
        label_smoothing=config.label_smoothing,
    )
    sample_weights = class_weights[train_labels] if config.class_balance == "sampler" else None

    out_dir = Path(config.out_dir)
    state_path = out_dir / STATE_FILE
    progress, best_state = _Progress(), None
    if config.resume and state_path.is_file():
        progress, best_state = _resume(state_path, config, engine, generator)
    elif state_path.is_file():
        state_path.unlink()
    _logger.info(
        "training %s (%.2fM params) on %s, %d samples",
        config.model,
        n_params / 1e6,
        train_ds.name,
        len(train_index),
    )

    def evaluate_split(ds: MedMNIST) -> np.ndarray:
        return predict(engine.eval_model, ds, device, config.resize, amp=engine.amp)

    epochs = range(progress.epoch + 1, config.epochs + 1)
    bar = tqdm(epochs, desc=config.model, disable=not config.progress)
    for epoch in bar:
        if progress.stale and config.patience is not None and progress.stale >= config.patience:
            break  # a resumed run that had already stopped early
        losses = []
        order = _epoch_order(train_index, sample_weights, generator)
        for index in order.split(config.batch_size)[:steps_per_epoch]:
            x = _prepare(train_ds, index, config.resize, device)
            if augment is not None:
                x = augment(x, generator)
            y = train_ds.labels[index].to(device)
            losses.append(engine.step(lambda m, x=x, y=y: criterion(m(x).float(), y)))
        val = _scores(val_ds.labels.numpy(), evaluate_split(val_ds))
        row = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        row |= {f"val_{k}": v for k, v in val.items()}
        if config.log_test:
            test = _scores(test_ds.labels.numpy(), evaluate_split(test_ds))
            row |= {f"test_{k}": v for k, v in test.items()}
        elapsed = progress.elapsed_s + time.perf_counter() - start
        progress.history.append(row | {"time_s": elapsed})
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_auc=f"{val['auc']:.3f}")
        _logger.info("epoch %d/%d %s", epoch, config.epochs, progress.history[-1])
        progress.epoch = epoch
        if _is_better(config.select, val, progress.best):
            progress.best, progress.best_epoch, progress.stale = val, epoch, 0
            if config.select != "last":
                best_state = copy.deepcopy(engine.eval_model.state_dict())
        else:
            progress.stale += 1
        _save_progress(
            state_path,
            config,
            engine,
            dataclasses_replace(progress, elapsed_s=elapsed),
            best_state,
            generator,
        )
        if config.patience is not None and progress.stale >= config.patience:
            _logger.info("early stop at epoch %d (best %d)", epoch, progress.best_epoch)
            break

    eval_model = engine.eval_model
    if best_state is not None:
        eval_model.load_state_dict(best_state)
    val_probs = evaluate_split(val_ds)
    test_probs = evaluate_split(test_ds)
    threshold = (
        best_threshold(val_ds.labels.numpy(), val_probs) if train_ds.num_classes == 2 else None
    )
    checkpoint = save_checkpoint(eval_model, out_dir / "best", recipe)
    result = {
        "model": config.model,
        "data": train_ds.name,
        "params": n_params,
        "train_samples": len(train_index),
        "epochs_run": len(progress.history),
        "best_epoch": progress.best_epoch,
        "threshold": threshold,
        "val": classification_metrics(val_ds.labels.numpy(), val_probs, threshold),
        "test": classification_metrics(test_ds.labels.numpy(), test_probs, threshold),
        "wall_time_s": progress.elapsed_s + time.perf_counter() - start,
        "device": str(device),
        "checkpoint": str(checkpoint),
        "config": asdict(config),
        "history": progress.history,
    }
    atomic_write_text(out_dir / "result.json", json.dumps(result, indent=2))
    state_path.unlink(missing_ok=True)
    _logger.info("test %s", result["test"])
    return result
