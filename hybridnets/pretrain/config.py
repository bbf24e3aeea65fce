"""Settings of one self-supervised pretraining run; the CLI's options are generated from them.

config = PretrainConfig(model="convvit_n", data="pneumoniamnist.npz", epochs=40)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hybridnets.pretrain.model import DECODER_FROM, MASK_STYLES

__all__ = ["OBJECTIVES", "PretrainConfig"]

OBJECTIVES = ("mim", "contrastive")


@dataclass
class PretrainConfig:
    """Everything one pretraining run needs; serialised into ``pretrain.json`` and ``result.json``.

    Args:
        model: hybridnets model name (convvit_*, convswin_*, cbamnext_*).
        objective: mim (masked image modelling: reconstruct hidden patches; the best start for
            fine-tuning) or contrastive (SimCLR-style: two strong views of an image agree; the
            features to use frozen, e.g. for a linear probe or retrieval).
        data: Comma-separated sources of unlabelled images: MedMNIST-format .npz files (the
            train split, labels ignored), folders of PNG/JPEG images or NIfTI/DICOM volumes,
            and the training images of image-text data as hybridnets.align reads it (a MedPix
            2.0 folder, a .csv/.jsonl table of pairs; captions ignored).
        out_dir: Folder of the pretrained encoder (model.safetensors + config.json, loadable
            with hybridnets.create(pretrained=out_dir) and train --pretrained out_dir), its
            pretrain.json recipe, result.json and the resumable state.
        epochs: Passes over the unlabelled images (the cosine schedule spans them all).
        batch_size: Global batch size, split over the processes under torchrun.
        lr: Peak learning rate of AdamW.
        weight_decay: AdamW weight decay (not on norms, biases, tokens and no_weight_decay()).
        warmup_epochs: Linear warm-up length in epochs (may be fractional).
        min_lr_ratio: Final learning rate as a fraction of lr.
        clip_grad: Clip the global gradient norm to this value (None: no clipping).
        mask_ratio: (mim) Share of patches hidden in every image.
        mask_patch: (mim) Mask patch edge in pixels (None: the coarsest stem_stride * 2^k that leaves
            at least 7 patches per side: 4 at 28 px, 8 at 64 px, 32 at 224 px).
        mask_style: (mim) dense (FCMAE: masked positions are zeroed again after every block, the
            decoder alone fills them; measured best) or token (SimMIM: masked positions get a
            learned token after the stem and the encoder runs densely).
        decoder_from: (mim) Encoder maps the decoder reads: last (the last stage only, so the whole
            encoder must carry what reconstruction needs) or pyramid (every stage at the mask
            grid or coarser).
        decoder_dim: (mim) Width of the light decoder.
        decoder_depth: (mim) Residual conv blocks of the decoder (0: projections and prediction
            only).
        norm_pix_loss: (mim) Reconstruct each patch's pixels standardised within the patch.
        temperature: (contrastive) Softmax temperature of the InfoNCE loss between views.
        proj_dim: (contrastive) Width of the projection the loss compares (discarded after).
        augment: (mim) Random flips and small affine warps of the unlabelled images; the
            contrastive objective always draws its own strong views (crop, rotation, flips,
            contrast, noise).
        input_size: Resize every image to this edge length (needed when sources differ in size).
        in_chans: Convert images to this many channels (None: those of the first source).
        recalibrate_batchnorm: After pretraining, re-estimate BatchNorm statistics on up to this
            many unmasked images (None or 0: keep those seen under masking).
        drop_path_rate: Stochastic depth of the encoder (None: the model's default).
        model_kwargs: Extra model constructor arguments as JSON.
        seed: Seed for weights, masks, shuffling and augmentation.
        device: auto (CUDA when available), cpu, cuda or cuda:N.
        amp: bf16 autocast on CUDA.
        progress: Show a tqdm progress bar.
        num_threads: CPU threads for torch (None: torch's default).
        resume: Continue an interrupted run from out_dir/state.pt when its settings match;
            off: start over.
    """

    model: str
    data: str
    objective: str = "mim"
    out_dir: str = "runs/pretrain"
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 5.0
    min_lr_ratio: float = 0.01
    clip_grad: float | None = 3.0
    mask_ratio: float = 0.6
    mask_patch: int | None = None
    mask_style: str = "dense"
    decoder_from: str = "last"
    decoder_dim: int = 128
    decoder_depth: int = 1
    norm_pix_loss: bool = True
    temperature: float = 0.2
    proj_dim: int = 128
    augment: bool = True
    input_size: int | None = None
    in_chans: int | None = None
    recalibrate_batchnorm: int | None = 2048
    drop_path_rate: float | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    progress: bool = True
    num_threads: int | None = None
    resume: bool = True

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature!r}")
        if self.mask_style not in MASK_STYLES:
            raise ValueError(f"mask_style must be one of {MASK_STYLES}, got {self.mask_style!r}")
        if self.decoder_from not in DECODER_FROM:
            raise ValueError(
                f"decoder_from must be one of {DECODER_FROM}, got {self.decoder_from!r}"
            )
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio!r}")
        for name in ("epochs", "batch_size", "decoder_dim", "proj_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.decoder_depth < 0:
            raise ValueError(f"decoder_depth must be at least 0, got {self.decoder_depth}")
        if self.mask_patch is not None and self.mask_patch < 1:
            raise ValueError(f"mask_patch must be at least 1, got {self.mask_patch}")

    @property
    def sources(self) -> list[str]:
        """The data sources, split at commas."""
        return [s.strip() for s in self.data.split(",") if s.strip()]
