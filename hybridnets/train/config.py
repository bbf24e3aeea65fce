"""Settings of one supervised training run; the CLI's options are generated from them.

config = TrainConfig(model="convvit_n", data="pneumoniamnist.npz", epochs=30)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CLASS_BALANCE", "SELECT", "TrainConfig"]

CLASS_BALANCE = ("none", "loss", "sampler")
SELECT = ("last", "val_auc", "val_loss")


@dataclass
class TrainConfig:
    """Everything one training run needs; serialised into ``result.json``.

    Args:
        model: hybridnets, monai_<resnet> or timm model name.
        data: MedMNIST-format .npz file.
        out_dir: Folder for result.json and the best/ checkpoint.
        epochs: Number of epochs (the cosine schedule spans them all).
        batch_size: Global training batch size, split over the processes under torchrun (same
            steps for any number of processes); the last incomplete batch is kept unless it has
            one sample (or fewer than the number of processes).
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
        pretrained: Start a hybridnets model from these weights: a folder written by
            python -m hybridnets.pretrain or save_pretrained, a file, a weight tag or a URL
            (the classifier starts fresh; pair with --layer-decay to fine-tune gently).
        device: auto (CUDA when available), cpu, cuda or cuda:N.
        amp: bf16 autocast on CUDA.
        progress: Show a tqdm progress bar.
        num_threads: CPU threads for torch (None: torch's default); 1 is fastest on a small machine
            shared with other jobs.
        log_test: Also evaluate the test split after every epoch into history (analysis of
            selectors only; never used to choose weights).
        fsdp: Under torchrun, shard each stage with FSDP2 (fully_shard; bf16 parameters with
            amp on CUDA) instead of replicating the model with DDP; needs --ema-decay none.
        grad_checkpointing: Recompute activations in the backward pass (the model's
            set_grad_checkpointing) to fit larger 3D inputs in memory.
        resume: Continue an interrupted run from out_dir/state.pt (written after every
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
    pretrained: str | None = None
    device: str = "auto"
    amp: bool = True
    progress: bool = True
    num_threads: int | None = None
    log_test: bool = False
    fsdp: bool = False
    grad_checkpointing: bool = False
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
