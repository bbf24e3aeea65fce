"""Settings of one image–text alignment run: the shared config parts
(:mod:`hybridnets.engine.config`) and the recipe's own fields; the CLI is generated from them.

config = AlignConfig(model="convvit_n", data="/data/medpix2", input_size=64, epochs=20)
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridnets.engine.config import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    ParallelConfig,
    RunConfig,
    SelectConfig,
    setting,
)
from hybridnets.multimodal.image import IMAGE_POOLING
from hybridnets.multimodal.text import TEXT_POOLING

__all__ = ["ALIGN_SELECT", "EXTRA_TEXT_PROB", "AlignConfig"]

EXTRA_TEXT_PROB = 0.5
"""``extra_text_prob`` when left at None and the training pairs have extra texts (measured on
MedPix 2.0: benchmarks/results/align_medpix.md)."""
ALIGN_SELECT = ("last", "val_loss")
"""Selectors an alignment run offers: validation pairs give a contrastive loss, not an AUC."""


@dataclass(kw_only=True)
class AlignConfig(ParallelConfig, RunConfig, SelectConfig, OptimConfig, DataConfig, ModelConfig):
    """Everything one alignment run needs; serialised into ``result.json`` and the run's
    ``run_config.json``.

    Args:
        model: Image tower: any hybridnets, monai_<resnet> or timm model name.
        data: A MedPix 2.0 folder (splits/ and images/) or a .csv/.jsonl table of image, text
            and optional label and split columns (image paths relative to the table).
        out_dir: Folder for result.json, the image_tower/ backbone, the aligned model and
            run_config.json.
        input_size: Images are padded to a square and resized to this side (volumes: cube).
        in_chans: Image channels: 1 reads images as grey-scale, 3 as RGB.
        max_train_samples: Train on a random subset of this many pairs (None: all).
        augment: Small random rotations, zooms and shifts of training images (no flips:
            captions name sides).
        batch_size: Global batch of pairs (the negatives of each pair); the last incomplete
            batch is dropped; a multiple of the number of processes under torchrun.
        weight_decay: AdamW weight decay (not on norms, biases and the temperature).
        layer_decay: Layer-wise LR decay of the image backbone through its group_matcher
            (e.g. 0.75 with --pretrained weights, so the early stages keep what they learnt;
            None: off); pooling, projections and temperature train at the full rate.
        select: Weights reported and saved: last (the end of training) or val_loss (the epoch
            with the lowest contrastive loss on the validation pairs; needs them).
        test_data: A separate table of test pairs (then data holds only training pairs);
            None: the test split of data.
        val_data: A separate table of validation pairs (None: data's val/dev split if any).
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
        extra_text_prob: Chance that a training image is paired with its extra text instead
            of its caption, drawn per image and step (MedPix: its case report's title and
            findings, from Case_topic.json; tables: the extra_text_col). More ways of
            describing an image; evaluation always uses the captions. None: 0.5 when the
            training pairs have extra texts, else 0; 0: captions only.
        image_col: Table column with the image path.
        text_col: Table column with the caption.
        label_col: Table column with an optional class name (zero-shot task "label").
        extra_text_col: Table column with an optional second text per image (see
            extra_text_prob).
    """

    out_dir: str = "runs/align"
    input_size: int | None = setting(128, minimum=1)
    in_chans: int | None = setting(1, minimum=1)
    epochs: int = 20
    batch_size: int = setting(64, minimum=2)
    warmup_epochs: float = 1.0
    select: str = setting("last", choices=ALIGN_SELECT)
    test_data: str | None = None
    val_data: str | None = None
    text_model: str | None = None
    text_pooling: str = setting("mean", choices=TEXT_POOLING)
    text_max_length: int = setting(128, minimum=1)
    text_trainable: bool = False
    text_lora_rank: int | None = setting(None, minimum=1)
    pool: str = setting("attn", choices=IMAGE_POOLING)
    embed_dim: int = setting(256, minimum=1)
    init_temperature: float = 0.07
    extra_text_prob: float | None = None
    image_col: str = setting("image", aliases=("--image-column",))
    text_col: str = setting("text", aliases=("--text-column",))
    label_col: str = setting("label", aliases=("--label-column",))
    extra_text_col: str = setting("extra_text", aliases=("--extra-text-column",))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.extra_text_prob is not None and not 0.0 <= self.extra_text_prob <= 1.0:
            raise ValueError(f"extra_text_prob must be in [0, 1], got {self.extra_text_prob}")
        if self.input_size is None or self.in_chans is None:
            raise ValueError("alignment needs input_size and in_chans (one size for the batch)")

    @property
    def mode(self) -> str:
        """``lit`` (frozen text), ``lora`` (text adapters) or ``clip`` (both towers train)."""
        if self.text_lora_rank is not None:
            return "lora"
        return "clip" if self.text_trainable else "lit"
