"""Settings of one self-supervised pretraining run; the CLI's options are generated from them.

config = PretrainConfig(model="convvit_n", data="pneumoniamnist.npz", epochs=40)
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridnets.engine.config import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    ParallelConfig,
    RunConfig,
    setting,
)
from hybridnets.pretrain.model import DECODER_FROM, MASK_STYLES

__all__ = ["OBJECTIVES", "PretrainConfig"]

OBJECTIVES = ("mim", "contrastive")


@dataclass(kw_only=True)
class PretrainConfig(ParallelConfig, RunConfig, OptimConfig, DataConfig, ModelConfig):
    """Everything one pretraining run needs; serialised into ``checkpoint.json``,
    ``result.json`` and the run's ``run_config.json``. Pretraining has no labels to validate
    on, so it keeps the last epoch (no select or patience).

    Args:
        model: hybridnets model name (convvit_*, convswin_*, cbamnext_*).
        pretrained: Continue from these hybridnets weights (a folder of an earlier
            pretraining or save_pretrained, a file, a weight tag or a URL; None: random init).
        data: Comma-separated sources of unlabelled images: MedMNIST-format .npz files (the
            train split, labels ignored), folders of PNG/JPEG images or NIfTI/DICOM volumes,
            and the training images of image-text data as hybridnets.align reads it (a MedPix
            2.0 folder, a .csv/.jsonl table of pairs; captions ignored).
        input_size: Resize every image to this edge length (needed when sources differ in size).
        in_chans: Convert images to this many channels (None: those of the first source).
        max_train_samples: Pretrain on a random subset of this many images (None: all).
        augment: (mim) Random flips and small affine warps of the unlabelled images; the
            contrastive objective always draws its own strong views (crop, rotation, flips,
            contrast, noise).
        out_dir: Folder of the pretrained encoder (model.safetensors + config.json, loadable
            with hybridnets.create(pretrained=out_dir) and train --pretrained out_dir), its
            checkpoint.json record, result.json, run_config.json and the resumable state.
        epochs: Passes over the unlabelled images (the cosine schedule spans them all).
        weight_decay: AdamW weight decay (not on norms, biases, tokens and no_weight_decay()).
        ema_decay: Save timm's EMA of the encoder with this decay (None or 0: off).
        objective: mim (masked image modelling: reconstruct hidden patches; the best start for
            fine-tuning) or contrastive (SimCLR-style: two strong views of an image agree; the
            features to use frozen, e.g. for a linear probe or retrieval).
        mask_ratio: (mim) Share of patches hidden in every image.
        mask_patch: (mim) Mask patch edge in pixels (None: the coarsest stem_stride * 2^k that
            leaves at least 7 patches per side: 4 at 28 px, 8 at 64 px, 32 at 224 px).
        mask_style: (mim) dense (FCMAE: masked positions are zeroed again after every block, the
            decoder alone fills them; measured best) or token (SimMIM: masked positions get a
            learned token after the stem and the encoder runs densely).
        decoder_from: (mim) Encoder maps the decoder reads: last (the last stage only, so the
            whole encoder must carry what reconstruction needs) or pyramid (every stage at the
            mask grid or coarser).
        decoder_dim: (mim) Width of the light decoder.
        decoder_depth: (mim) Residual conv blocks of the decoder (0: projections and prediction
            only).
        norm_pix_loss: (mim) Reconstruct each patch's pixels standardised within the patch.
        temperature: (contrastive) Softmax temperature of the InfoNCE loss between views.
        proj_dim: (contrastive) Width of the projection the loss compares (discarded after).
        recalibrate_batchnorm: After pretraining, re-estimate BatchNorm statistics on up to this
            many unmasked images (None or 0: keep those seen under masking).
    """

    out_dir: str = "runs/pretrain"
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    warmup_epochs: float = 5.0
    clip_grad: float | None = 3.0
    objective: str = setting("mim", choices=OBJECTIVES)
    mask_ratio: float = 0.6
    mask_patch: int | None = setting(None, minimum=1)
    mask_style: str = setting("dense", choices=MASK_STYLES)
    decoder_from: str = setting("last", choices=DECODER_FROM)
    decoder_dim: int = setting(128, minimum=1)
    decoder_depth: int = setting(1, minimum=0)
    norm_pix_loss: bool = True
    temperature: float = 0.2
    proj_dim: int = setting(128, minimum=1)
    recalibrate_batchnorm: int | None = 2048

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature!r}")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio!r}")

    @property
    def sources(self) -> list[str]:
        """The data sources, split at commas."""
        return [s.strip() for s in self.data.split(",") if s.strip()]
