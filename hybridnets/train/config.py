"""Settings of one supervised training run: the shared config parts
(:mod:`hybridnets.engine.config`) and the recipe's own fields; the CLI is generated from them.

config = TrainConfig(model="convvit_n", data="pneumoniamnist.npz", epochs=30)
config = TrainConfig(model="convvit_n", data="ham.csv", image_col="image_path", label_col="dx",
                     tabular="age,sex,localization", group_col="lesion_id", fusion="cross")
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridnets.data.tabular import parse_columns
from hybridnets.engine.config import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    ParallelConfig,
    RunConfig,
    SelectConfig,
    setting,
)
from hybridnets.inference import TTA
from hybridnets.multimodal.fusion import FUSION_MODES

__all__ = ["CLASS_BALANCE", "FUSION", "TABLE_SIZE", "TrainConfig"]

CLASS_BALANCE = ("none", "loss", "sampler")
FUSION = FUSION_MODES
TABLE_SIZE = 128
"""Side length a table's images are read at when ``input_size`` is not given."""


@dataclass(kw_only=True)
class TrainConfig(ParallelConfig, RunConfig, SelectConfig, OptimConfig, DataConfig, ModelConfig):
    """Everything one training run needs; serialised into ``result.json`` and the run's
    ``run_config.json``.

    Args:
        epochs: Number of epochs (the cosine schedule spans them all). None: derived from the
            training-set size, enough epochs to show the model 50,000 training samples,
            between 10 and 100 (500 images: 100, 1,080: 47, 4,708: 11, 10,000 or more: 10);
            result.json and run_config.json record the number used.
        data: MedMNIST-format .npz file, or a .csv/.parquet table with one row per image
            (see image_col, label_col, tabular, group_col, split_col).
        input_size: Train and evaluate at this edge length (bilinear/trilinear) instead of
            native (tables: images are read at this size, default 128).
        in_chans: Tables: channels to read images with (None: the first image's own, 1 for
            grey-scale, 3 for colour).
        max_train_samples: Train on a stratified random subset of this many training samples.
        augment: Random flips and small affine warps on training batches.
        image_col: Tables: column of image paths, relative to the table's folder (PNG/JPEG;
            NIfTI/DICOM/NRRD volumes through MONAI).
        label_col: Tables: column of class labels (names or integers).
        tabular: Tables: comma-separated clinical columns fused with the image, e.g.
            age,sex,localization; a column is numeric when at least 80 % of its present cells
            are numbers (then text in a cell is an error naming the row) and categorical
            otherwise; declare a kind with age:num or site:cat; empty cells are missing;
            statistics from the training rows only, saved with the checkpoint. None: the image
            alone.
        group_col: Tables: rows sharing this column's value (patient, lesion) stay on one side
            of the split.
        split_col: Tables: column saying train, val or test per row (None: a grouped,
            label-stratified 70/15/15 split drawn with seed).
        fusion: With tabular: late (pooled image and clinical features concatenated into an
            MLP head), cross (image tokens attend to one token per clinical variable through
            a gate that is zero at init, so training starts from the image-only model) or
            coattn (bidirectional co-attention, then an MLP head).
        fusion_dim: With tabular: width of the clinical tokens.
        table_dropout: With tabular: the share of training samples whose clinical columns are
            withheld (cross: the sample takes the image path alone; late/coattn: zero
            clinical tokens), so the model also classifies without them (on HAM10000 0.25
            cost 1-2 points of balanced accuracy where the table helps; cross fusion's image
            path works without it, being the model with its gate closed).
        table_fallback: With tabular: score validation with and without the clinical columns
            every epoch, select an epoch for each (--select; the image path keeps its own
            best epoch, not the fused model's, which noise columns can make an early one),
            and keep the clinical columns only when the fused model's best scores at least
            as well as the image path's (under --select last: validation loss minus AUC at
            the last epoch); otherwise the saved model and result.json (table_used false,
            best_epoch the image path's) use the image path alone.
        label_smoothing: Cross-entropy label smoothing.
        mixup: Mixup's Beta(a, a) concentration a: each training batch is blended with
            itself in reverse order, images and (label-smoothed) targets alike, with one
            weight per batch drawn from Beta(a, a) (Zhang et al., 2018; 0: off; not with
            tabular). Measured with 0.2 on five tasks for ours and the ResNet-18 baselines:
            no gain on RetinaMNIST's AUC, lower AUC in 10-epoch 3D runs, gains and losses
            within 2 points elsewhere (benchmarks/results/mixup_table.md).
        intensity: With augment: random contrast and brightness of each training image after
            its flips and warp (80 % of the images): scaled about its mean by a factor in
            [1 - a, 1 + a] and shifted by up to ±a, in the units of the standardised input
            (0: off; nnU-Net and MONAI augment intensity this way). Measured with 0.2 on
            four tasks for ours and the ResNet-18 baselines: no change in RetinaMNIST's AUC,
            convvit_n -0.9 AUC with 500 PneumoniaMNIST labels, the rest within noise
            (benchmarks/results/intensity_table.md).
        tta: Test-time augmentation for validation, test and predict (saved with the
            checkpoint): none, flip (the mean of the probabilities of each image and of its
            mirror image along the last axis; twice the evaluation time) or auto: flip when
            training augments (its flips make the mirror image as likely as the image, as
            nnU-Net mirrors), none with --no-augment. Measured on 8 tasks, flip never cost
            ours or the ResNet-18 baselines beyond noise (benchmarks/results/tta_flip.md).
        class_balance: none (plain loss), loss (class-weighted cross-entropy) or sampler (each
            epoch draws classes equally often).
        prior_bias: Start the classifier's bias at the log class frequencies of the training
            labels (as label smoothing sees them), so the model predicts the class prior from
            the first step instead of learning it through a bias that AdamW moves by about the
            learning rate per step; off with class_balance, whose prior is uniform.
        lora_rank: Fine-tune through LoRA adapters of this rank (peft) on the attention, MLP and
            pointwise-convolution layers of a hybridnets model, the classifier trained fully
            and everything else frozen; the saved checkpoint has the adapters merged in, and
            lora/ holds them alone (None: train every weight).
        log_test: Also evaluate the test split after every epoch into history (analysis of
            selectors only; never used to choose weights).
    """

    out_dir: str = "runs/train"
    epochs: int | None = setting(None, minimum=1)
    input_size: int | None = setting(None, minimum=1, aliases=("--resize",))
    ema_decay: float | None = 0.998
    select: str = "val_loss_auc"
    image_col: str = "image"
    label_col: str = "label"
    tabular: str | None = None
    group_col: str | None = None
    split_col: str | None = None
    fusion: str = setting("cross", choices=FUSION)
    fusion_dim: int = setting(64, minimum=1)
    table_dropout: float = setting(0.0, minimum=0.0)
    table_fallback: bool = True
    label_smoothing: float = setting(0.1, minimum=0.0)
    mixup: float = setting(0.0, minimum=0.0)
    intensity: float = setting(0.0, minimum=0.0)
    tta: str = setting("auto", choices=("auto", *TTA))
    class_balance: str = setting("none", choices=CLASS_BALANCE)
    prior_bias: bool = True
    lora_rank: int | None = setting(None, minimum=1)
    log_test: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        parse_columns(self.tabular)  # a bad kind fails here, not after reading the images
        if self.table_dropout >= 1.0:
            raise ValueError(
                f"`table_dropout` is the share of samples trained without their clinical "
                f"columns and must be below 1, got {self.table_dropout}"
            )
        if self.mixup and self.tabular:
            raise ValueError(
                f"mixup blends each image and label with another sample's, and a sample's "
                f"clinical columns cannot be blended; train with tabular={self.tabular!r} and "
                f"mixup 0 (got {self.mixup})"
            )
        if self.intensity and not self.augment:
            raise ValueError(
                f"intensity {self.intensity} augments training images, which --no-augment "
                f"turns off; drop one of the two"
            )
        table_only = [n for n in ("tabular", "group_col", "split_col") if getattr(self, n)]
        if table_only and not self.is_table:
            raise ValueError(
                f"{', '.join(table_only)} need a .csv or .parquet table as data, got {self.data!r}"
            )

    @property
    def tabular_columns(self) -> dict[str, str | None]:
        """The clinical columns named by ``tabular``, each with its declared kind (``num``,
        ``cat`` or None: inferred); empty for the image alone."""
        return parse_columns(self.tabular)

    @property
    def tta_views(self) -> str:
        """``tta`` with auto resolved: flip when ``augment`` (the training flips along the last
        axis), else none."""
        if self.tta != "auto":
            return self.tta
        return "flip" if self.augment else "none"

    @property
    def is_table(self) -> bool:
        """Whether ``data`` is a table of image paths rather than a MedMNIST .npz file."""
        return self.data.lower().endswith((".csv", ".parquet"))
