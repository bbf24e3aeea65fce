"""Settings of one image–text alignment run; the CLI's options are generated from them.

config = AlignConfig(model="convvit_n", data="/data/medpix2", input_size=64, epochs=20)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hybridnets.multimodal.image import IMAGE_POOLING
from hybridnets.multimodal.text import TEXT_POOLING

__all__ = ["EXTRA_TEXT_PROB", "AlignConfig"]

EXTRA_TEXT_PROB = 0.5
"""``extra_text_prob`` when left at None and the training pairs have extra texts (measured on
MedPix 2.0: benchmarks/results/align_medpix.md)."""


@dataclass
class AlignConfig:
    """Everything one alignment run needs; serialised into ``result.json``.

    Args:
        model: Image tower: any hybridnets, monai_<resnet> or timm model name.
        data: A MedPix 2.0 folder (splits/ and images/) or a .csv/.jsonl table of image, text
            and optional label and split columns (image paths relative to the table).
        test_data: A separate table of test pairs (then data holds only training pairs);
            None: the test split of data.
        val_data: A separate table of validation pairs (None: data's val/dev split if any).
        out_dir: Folder for result.json, the image_tower/ backbone and the aligned model.
        text_model: Text tower: a local Hugging Face folder or hub name (None: the
            all-MiniLM-L6-v2 folder of the text extra).
        text_pooling: mean (over tokens, what sentence encoders expect) or cls.
        text_max_length: Captions are truncated to this many tokens.
        text_trainable: Train the whole text tower (CLIP); off: frozen, each caption encoded
            once and cached (LiT).
        text_lora_rank: Train LoRA adapters of this rank on the text tower's attention
            projections instead of freezing it (None: off).
        pool: Image pooling: attn (a learned query attends over the last map) or avg.
        embed_dim: Size of the shared image–text embedding.
        init_temperature: Initial softmax temperature (learned; logit scale clamped at 100).
        input_size: Images are padded to a square and resized to this side (volumes: cube).
        in_chans: Image channels: 1 reads images as grey-scale, 3 as RGB.
        epochs: Number of epochs (the cosine schedule spans them all).
        batch_size: Global batch of pairs (the negatives of each pair); the last incomplete
            batch is dropped; a multiple of the number of processes under torchrun.
        lr: Peak learning rate of AdamW.
        weight_decay: AdamW weight decay (not on norms, biases and the temperature).
        warmup_epochs: Linear warm-up length in epochs (may be fractional).
        min_lr_ratio: Final learning rate as a fraction of lr.
        clip_grad: Clip the global gradient norm to this value (None: no clipping).
        layer_decay: Layer-wise LR decay of the image backbone through its group_matcher
            (e.g. 0.75 with --pretrained weights, so the early stages keep what they learnt;
            None: off); pooling, projections and temperature train at the full rate.
        ema_decay: Evaluate and save timm's EMA of the weights with this decay (None: off).
        augment: Small random rotations, zooms and shifts of training images (no flips:
            captions name sides).
        normalize: Standardise images with the training split's per-channel mean and std.
        seed: Seed for weights, shuffling and augmentation.
        max_train_samples: Train on a random subset of this many pairs (None: all).
        extra_text_prob: Chance that a training image is paired with its extra text instead
            of its caption, drawn per image and step (MedPix: its case report's title and
            findings, from Case_topic.json; tables: the extra_text_column). More ways of
            describing an image; evaluation always uses the captions. None: 0.5 when the
            training pairs have extra texts, else 0; 0: captions only.
        model_kwargs: Extra image backbone constructor arguments as JSON.
        pretrained: Start a hybridnets image tower from these weights: a folder written by
            python -m hybridnets.pretrain (e.g. --objective contrastive on the same images) or
            save_pretrained, a file, a weight tag or a URL; pooling and projection start fresh
            (None: random init; timm weights: --model-kwargs '{"pretrained": true}').
        image_column: Table column with the image path.
        text_column: Table column with the caption.
        label_column: Table column with an optional class name (zero-shot task "label").
        extra_text_column: Table column with an optional second text per image (see
            extra_text_prob).
        device: auto (CUDA when available), cpu, cuda or cuda:N.
        amp: bf16 autocast on CUDA.
        progress: Show a tqdm progress bar.
        num_threads: CPU threads for torch (None: torch's default).
        resume: Continue an interrupted run from out_dir/state.pt when its settings match;
            off: start over.
    """

    model: str
    data: str
    test_data: str | None = None
    val_data: str | None = None
    out_dir: str = "runs/align"
    text_model: str | None = None
    text_pooling: str = "mean"
    text_max_length: int = 128
    text_trainable: bool = False
    text_lora_rank: int | None = None
    pool: str = "attn"
    embed_dim: int = 256
    init_temperature: float = 0.07
    input_size: int = 128
    in_chans: int = 1
    epochs: int = 20
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    clip_grad: float | None = None
    layer_decay: float | None = None
    ema_decay: float | None = None
    augment: bool = True
    normalize: bool = True
    seed: int = 0
    max_train_samples: int | None = None
    extra_text_prob: float | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None
    image_column: str = "image"
    text_column: str = "text"
    label_column: str = "label"
    extra_text_column: str = "extra_text"
    device: str = "auto"
    amp: bool = True
    progress: bool = True
    num_threads: int | None = None
    resume: bool = True

    def __post_init__(self) -> None:
        if self.text_pooling not in TEXT_POOLING:
            raise ValueError(
                f"text_pooling must be one of {TEXT_POOLING}, got {self.text_pooling!r}"
            )
        if self.pool not in IMAGE_POOLING:
            raise ValueError(f"pool must be one of {IMAGE_POOLING}, got {self.pool!r}")
        for name in ("epochs", "batch_size", "input_size", "in_chans", "embed_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.extra_text_prob is not None and not 0.0 <= self.extra_text_prob <= 1.0:
            raise ValueError(f"extra_text_prob must be in [0, 1], got {self.extra_text_prob}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: a contrastive batch needs negatives")

    @property
    def mode(self) -> str:
        """``lit`` (frozen text), ``lora`` (text adapters) or ``clip`` (both towers train)."""
        if self.text_lora_rank is not None:
            return "lora"
        return "clip" if self.text_trainable else "lit"
