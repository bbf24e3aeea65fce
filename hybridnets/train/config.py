"""Settings of one supervised training run; the CLI's options are generated from them.

config = TrainConfig(model="convvit_n", data="pneumoniamnist.npz", epochs=30)
config = TrainConfig(model="convvit_n", data="ham.csv", image_col="image_path", label_col="dx",
                     tabular="age,sex,localization", group_col="lesion_id", fusion="cross")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hybridnets.engine.selection import SELECT
from hybridnets.multimodal.fusion import FUSION_MODES

__all__ = ["CLASS_BALANCE", "FUSION", "TABLE_SIZE", "TrainConfig"]

CLASS_BALANCE = ("none", "loss", "sampler")
FUSION = FUSION_MODES
TABLE_SIZE = 128
"""Side length a table's images are read at when ``resize`` is not given."""


@dataclass
class TrainConfig:
    """Everything one training run needs; serialised into ``result.json``.

    Args:
        model: hybridnets, monai_<resnet> or timm model name.
        data: MedMNIST-format .npz file, or a .csv/.parquet table with one row per image
            (see image_col, label_col, tabular, group_col, split_col).
        image_col: Tables: column of image paths, relative to the table's folder (PNG/JPEG;
            NIfTI/DICOM/NRRD volumes through MONAI).
        label_col: Tables: column of class labels (names or integers).
        tabular: Tables: comma-separated clinical columns fused with the image, e.g.
            age,sex,localization (numeric when every present cell is a number, else
            categorical; empty cells are missing; statistics from the training rows only and
            saved with the checkpoint). None: the image alone.
        group_col: Tables: rows sharing this column's value (patient, lesion) stay on one side
            of the split.
        split_col: Tables: column saying train, val or test per row (None: a grouped,
            label-stratified 70/15/15 split drawn with seed).
        in_chans: Tables: channels to read images with (None: the first image's own, 1 for
            grey-scale, 3 for colour).
        fusion: With tabular: late (pooled image and clinical features concatenated into an
            MLP head), cross (image tokens attend to one token per clinical variable through
            a gate that is zero at init, so training starts from the image-only model) or
            coattn (bidirectional co-attention, then an MLP head).
        fusion_dim: With tabular: width of the clinical tokens.
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
        prior_bias: Start the classifier's bias at the log class frequencies of the training
            labels (as label smoothing sees them), so the model predicts the class prior from
            the first step instead of learning it through a bias that AdamW moves by about the
            learning rate per step; off with class_balance, whose prior is uniform.
        select: Weights reported and saved: last (the end of training), val_auc (epoch with the
            best validation AUC), val_loss (lowest validation loss) or val_loss_auc (lowest
            validation loss minus AUC averaged over the epoch and the two before it, which a
            small validation split fools less than either alone).
        patience: With a selector other than last, stop after this many epochs without a better
            validation score (None: never).
        seed: Seed for weights, subsets, shuffling and augmentation.
        resize: Train and evaluate at this edge length (bilinear/trilinear) instead of native
            (tables: images are read at this size, default 128).
        max_train_samples: Train on a stratified random subset of this many training samples.
        model_kwargs: Extra model constructor arguments as JSON (stem_stride, img_size, ...).
        pretrained: Start a hybridnets model from these weights: a folder written by
            python -m hybridnets.pretrain or save_pretrained, a file, a weight tag or a URL
            (the classifier starts fresh; pair with --layer-decay to fine-tune gently).
        lora_rank: Fine-tune through LoRA adapters of this rank (peft) on the attention, MLP and
            pointwise-convolution layers of a hybridnets model, the classifier trained fully
            and everything else frozen; the saved checkpoint has the adapters merged in, and
            lora/ holds them alone (None: train every weight).
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
    image_col: str = "image"
    label_col: str = "label"
    tabular: str | None = None
    group_col: str | None = None
    split_col: str | None = None
    in_chans: int | None = None
    fusion: str = "cross"
    fusion_dim: int = 64
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
    prior_bias: bool = True
    select: str = "val_loss_auc"
    patience: int | None = None
    seed: int = 0
    resize: int | None = None
    max_train_samples: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None
    lora_rank: int | None = None
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
        if self.fusion not in FUSION:
            raise ValueError(f"fusion must be one of {FUSION}, got {self.fusion!r}")
        if self.select not in SELECT:
            raise ValueError(f"select must be one of {SELECT}, got {self.select!r}")
        table_only = [n for n in ("tabular", "group_col", "split_col") if getattr(self, n)]
        if table_only and not self.is_table:
            raise ValueError(
                f"{', '.join(table_only)} need a .csv or .parquet table as data, got {self.data!r}"
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def tabular_columns(self) -> list[str]:
        """The clinical columns named by ``tabular`` (empty for the image alone)."""
        return [c.strip() for c in (self.tabular or "").split(",") if c.strip()]

    @property
    def is_table(self) -> bool:
        """Whether ``data`` is a table of image paths rather than a MedMNIST .npz file."""
        return self.data.lower().endswith((".csv", ".parquet"))
