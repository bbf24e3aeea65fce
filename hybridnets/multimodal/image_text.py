"""Image–text model: an image tower and a text tower projected into one embedding space.

CLIP (Radford et al., "Learning Transferable Visual Models From Natural Language
Supervision", ICML 2021) with a learnable temperature clamped as in open_clip (logit scale at
most 100); LiT when the text tower is frozen (its embeddings cached once per caption set),
CLIP when both sides train. Embeddings are L2-normalised, so ``scale · img @ txt.T`` are the
logits of :func:`hybridnets.multimodal.clip_loss`.

    model = build_image_text_model("convvit_n", spatial_dims=2, in_chans=1)
    img, txt = model.encode_image(images), model.encode_text(["an axial CT of the chest"])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hybridnets.models.delegate import group_matcher_of, no_weight_decay_of
from hybridnets.multimodal.image import ImageTower
from hybridnets.multimodal.text import TextTower, default_text_model

__all__ = ["ImageTextModel", "build_image_text_model"]


class ImageTextModel(nn.Module):
    """Image and text towers with linear projections to ``embed_dim`` and a temperature.

    Args:
        image: The image tower (pooled features ``(B, image.width)``).
        text: The text tower (pooled features ``(B, text.width)``).
        embed_dim: The shared embedding size.
        init_temperature: Initial softmax temperature (CLIP: 0.07, i.e. logit scale ~14.3).
        max_logit_scale: The logit scale is clamped to ``[1, max_logit_scale]`` where used.

    ``ImageTextModel(ImageTower("convvit_test"), TextTower(folder), 32).encode_text(["a"])``
    """

    def __init__(
        self,
        image: ImageTower,
        text: TextTower,
        embed_dim: int = 256,
        init_temperature: float = 0.07,
        max_logit_scale: float = 100.0,
    ) -> None:
        super().__init__()
        self.image = image
        self.text = text
        self.embed_dim = embed_dim
        self.image_proj = nn.Linear(image.width, embed_dim, bias=False)
        self.text_proj = nn.Linear(text.width, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_log_scale = math.log(max_logit_scale)
        # per-feature standardisation of the text tower's output (set_text_statistics)
        self.register_buffer("text_shift", torch.zeros(text.width))
        self.register_buffer("text_scale", torch.ones(text.width))
        for proj in (self.image_proj, self.text_proj):
            nn.init.normal_(proj.weight, std=proj.in_features**-0.5)

    @property
    def scale(self) -> Tensor:
        """``exp(logit_scale)`` clamped to ``[1, max_logit_scale]`` (open_clip clamps the
        parameter after each step; clamping where it is used gives the same logits)."""
        return self.logit_scale.clamp(0.0, self.max_log_scale).exp()

    def encode_image(self, images: Tensor, normalize: bool = True) -> Tensor:
        """Images ``(B, in_chans, *S)`` → embeddings ``(B, embed_dim)``."""
        x = self.image_proj(self.image(images))
        return F.normalize(x, dim=-1) if normalize else x

    def encode_text(self, texts: Sequence[str], normalize: bool = True) -> Tensor:
        """Texts → embeddings ``(B, embed_dim)`` (a frozen tower answers from its cache)."""
        x = (self.text.embed(texts) - self.text_shift) / self.text_scale
        x = self.text_proj(x.to(self.text_proj.weight.dtype))
        return F.normalize(x, dim=-1) if normalize else x

    @torch.no_grad()
    def set_text_statistics(self, texts: Sequence[str]) -> None:
        """Standardise text features per dimension with the mean and std over ``texts`` (the
        training captions), computed once with the tower as it is now.

        Sentence encoders put every caption of one domain in a narrow cone (a frozen random
        BERT: cosine ~0.95 between any two); removing the shared component up front lets the
        projection learn from the first step instead of first having to find it.
        """
        mode = self.training
        self.eval()
        feats = self.text.embed(list(dict.fromkeys(texts))).float()  # (T, width)
        self.train(mode)
        self.text_shift.copy_(feats.mean(0))
        if len(feats) > 1:
            self.text_scale.copy_(feats.std(0).clamp_min(1e-6))

    def forward(self, images: Tensor, texts: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
        """Normalised image and text embeddings ``(B, embed_dim)`` and the logit scale."""
        return self.encode_image(images), self.encode_text(texts), self.scale

    def no_weight_decay(self) -> set[str]:
        """The temperature and the image backbone's own exclusions."""
        return {"logit_scale"} | no_weight_decay_of(self.image, "image")

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """The image backbone's layer groups (layer-wise LR decay); pooling, projections and
        temperature join the last group (full learning rate)."""
        return group_matcher_of(self.image, "image", coarse)


def build_image_text_model(
    image_model: str,
    spatial_dims: int = 2,
    in_chans: int = 1,
    text_model: str | Path | None = None,
    embed_dim: int = 256,
    pool: str = "attn",
    text_pooling: str = "mean",
    text_max_length: int = 128,
    text_trainable: bool = False,
    text_lora_rank: int | None = None,
    init_temperature: float = 0.07,
    input_size: Sequence[int] | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> ImageTextModel:
    """An :class:`ImageTextModel` from names.

    Args:
        image_model: Any :func:`hybridnets.resolve.create_model` name.
        spatial_dims: 2 or 3.
        in_chans: Image channels.
        text_model: A Hugging Face folder or hub name (None: :func:`default_text_model`).
        embed_dim: Shared embedding size.
        pool: Image pooling, ``"attn"`` or ``"avg"``.
        text_pooling: ``"mean"`` or ``"cls"``.
        text_max_length: Token limit of the text tower.
        text_trainable: Train the whole text tower (CLIP); off: frozen and cached (LiT).
        text_lora_rank: Train LoRA adapters of this rank in the text tower instead.
        init_temperature: Initial temperature.
        input_size: Spatial input size (timm models with a fixed token grid need it).
        model_kwargs: Further image backbone arguments.
    """
    image = ImageTower(
        image_model, spatial_dims, in_chans, pool, input_size=input_size, **(model_kwargs or {})
    )
    text = TextTower(
        text_model if text_model is not None else default_text_model(),
        pooling=text_pooling,
        max_length=text_max_length,
        trainable=text_trainable,
        lora_rank=text_lora_rank,
    )
    return ImageTextModel(image, text, embed_dim, init_temperature)
