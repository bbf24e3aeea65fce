"""Supervised training recipe for MedMNIST-format data, 2D and 3D, any backbone.

Inputs standardised with the training split's statistics, AdamW (no decay on norms and
biases), linear warm-up then cosine decay per step, label smoothing, batched random flips +
small affine, bf16 autocast on CUDA, optional EMA of the
weights, best checkpoint and early stopping on validation AUC. Metrics follow MedMNIST v2
(Yang et al., Scientific Data 2023): ACC of the argmax and one-vs-rest AUC.

    result = train(TrainConfig(model="convvit_n", data="pneumoniamnist.npz", epochs=30))
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from hybridnets.data import MedMNIST, RandomFlipAffine
from hybridnets.train.metrics import best_threshold, classification_metrics
from hybridnets.train.models import build_model, model_source, save_checkpoint

__all__ = ["TrainConfig", "evaluate", "predict", "train"]

_logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything one training run needs; serialised into ``result.json``.

    Args:
        model: hybridnets, ``monai_<resnet>`` or timm model name.
        data: MedMNIST ``.npz`` file.
        out_dir: Folder for ``result.json`` and the ``best/`` checkpoint.
        epochs: Maximum number of epochs.
        batch_size: Training batch size.
        lr: Peak learning rate.
        weight_decay: AdamW weight decay (not applied to 1-D parameters).
        warmup_epochs: Linear warm-up length (may be fractional).
        min_lr_ratio: Final learning rate as a fraction of ``lr``.
        label_smoothing: Cross-entropy label smoothing.
        drop_path_rate: Stochastic depth for hybridnets/timm models (None: model default).
        normalize: Standardise inputs with the training split's per-channel mean and std
            (stored in the checkpoint's ``recipe.json``). Models whose stem is a linear patch
            conv followed by LayerNorm (ConvNeXt, ConvViT) need centred inputs to learn.
        augment: Random flips and small affine warps on training batches.
        ema_decay: Evaluate and save an exponential moving average of the weights.
        patience: Stop after this many epochs without a better validation AUC.
        seed: Seed for weights, shuffling and augmentation.
        resize: Train and evaluate at this edge length (bilinear/trilinear) instead of native.
        max_train_samples: Use a random subset of the training split (smoke tests).
        model_kwargs: Extra model constructor arguments (``stem_stride``, ``img_size``, ...).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        amp: bf16 autocast on CUDA.
        progress: Show a tqdm progress bar.
        num_threads: CPU threads for torch (None: torch's default); 1 is fastest on a
            small machine shared with other jobs.
    """

    model: str
    data: str
    out_dir: str = "runs/train"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    min_lr_ratio: float = 0.01
    label_smoothing: float = 0.1
    drop_path_rate: float | None = None
    normalize: bool = True
    augment: bool = True
    ema_decay: float | None = None
    patience: int | None = None
    seed: int = 0
    resize: int | None = None
    max_train_samples: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    amp: bool = True
    progress: bool = True
    num_threads: int | None = None


def _seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices and kernels only, not on norms, biases or tokens."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0},
    ]


def _warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return factor


def _step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    amp: bool,
) -> float:
    """One optimisation step on batch ``(x, y)``; returns the loss."""
    model.train()
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        loss = criterion(model(x).float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


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
    model = build_model(
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


def train(config: TrainConfig) -> dict[str, Any]:
    """Train ``config.model`` on ``config.data``; returns (and writes) the result dict.

    The result holds val/test ACC and AUC of the best-validation-AUC checkpoint, the binary
    test ACC at the threshold chosen on validation, epochs run, wall time, parameter count,
    the per-epoch history and the checkpoint folder.
    """
    start = time.perf_counter()
    generator = _seed_everything(config.seed)
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu")
        if config.device == "auto"
        else config.device
    )
    amp = config.amp and device.type == "cuda"
    train_ds, val_ds, test_ds = (MedMNIST(config.data, s) for s in ("train", "val", "test"))
    mean, std = train_ds.channel_stats() if config.normalize else (None, None)
    for ds in (train_ds, val_ds, test_ds):
        ds.set_normalization(mean, std)
    order = torch.randperm(len(train_ds), generator=generator)
    train_index = order[: config.max_train_samples] if config.max_train_samples else order

    model, recipe = _build(config, train_ds)
    recipe |= {"mean": mean, "std": std}
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    ema = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
        if config.ema_decay
        else None
    )
    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
    # a last batch of one sample is dropped: batch-norm layers (convvit_n's head) cannot train on it
    steps_per_epoch = len(train_index) // config.batch_size
    steps_per_epoch += len(train_index) % config.batch_size > 1
    if steps_per_epoch == 0:
        raise ValueError(f"training needs at least 2 samples, got {len(train_index)}")
    total = steps_per_epoch * config.epochs
    warmup = max(1, round(config.warmup_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _warmup_cosine(warmup, total, config.min_lr_ratio)
    )
    augment = RandomFlipAffine(train_ds.spatial_dims) if config.augment else None
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    _logger.info(
        "training %s (%.2fM params) on %s, %d samples",
        config.model,
        n_params / 1e6,
        train_ds.name,
        len(train_index),
    )

    history, best_auc, best_state, best_epoch, stale = [], -math.inf, None, 0, 0
    bar = tqdm(range(1, config.epochs + 1), desc=config.model, disable=not config.progress)
    for epoch in bar:
        perm = train_index[torch.randperm(len(train_index), generator=generator)]
        losses = []
        for index in perm.split(config.batch_size)[:steps_per_epoch]:
            x = _prepare(train_ds, index, config.resize, device)
            if augment is not None:
                x = augment(x, generator)
            y = train_ds.labels[index].to(device)
            losses.append(_step(model, x, y, criterion, optimizer, amp))
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
        eval_model = ema.module if ema is not None else model
        val = evaluate(eval_model, val_ds, device, config.resize, amp=amp)
        history.append(
            {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "val_acc": val["acc"],
                "val_auc": val["auc"],
                "time_s": time.perf_counter() - start,
            }
        )
        bar.set_postfix(
            loss=f"{np.mean(losses):.3f}", val_auc=f"{val['auc']:.3f}", val_acc=f"{val['acc']:.3f}"
        )
        _logger.info("epoch %d/%d %s", epoch, config.epochs, history[-1])
        if val["auc"] > best_auc:
            best_auc, best_epoch, stale = val["auc"], epoch, 0
            best_state = copy.deepcopy(eval_model.state_dict())
        else:
            stale += 1
            if config.patience is not None and stale >= config.patience:
                _logger.info("early stop at epoch %d (best %d)", epoch, best_epoch)
                break

    eval_model = ema.module if ema is not None else model
    if best_state is not None:
        eval_model.load_state_dict(best_state)
    val_probs = predict(eval_model, val_ds, device, config.resize, amp=amp)
    test_probs = predict(eval_model, test_ds, device, config.resize, amp=amp)
    threshold = (
        best_threshold(val_ds.labels.numpy(), val_probs) if train_ds.num_classes == 2 else None
    )
    out_dir = Path(config.out_dir)
    checkpoint = save_checkpoint(eval_model, out_dir / "best", recipe)
    result = {
        "model": config.model,
        "data": train_ds.name,
        "params": n_params,
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "threshold": threshold,
        "val": classification_metrics(val_ds.labels.numpy(), val_probs, threshold),
        "test": classification_metrics(test_ds.labels.numpy(), test_probs, threshold),
        "wall_time_s": time.perf_counter() - start,
        "device": str(device),
        "checkpoint": str(checkpoint),
        "config": asdict(config),
        "history": history,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "result.json").write_text(json.dumps(result, indent=2))
    _logger.info("test %s", result["test"])
    return result
