"""Image tower: any backbone the resolver builds (hybridnets, timm, ``monai_*``; 2D and 3D),
pooled to one vector per image by attention or by the backbone's own average pooling.

Attention pooling is one learned query over the last map's positions (the CLIP / CoCa
attentional pooler, :class:`hybridnets.layers.AttentionPool`); ``"avg"`` keeps the backbone's
pooled pre-logits (its head norm included).

    tower = ImageTower("convvit_n", spatial_dims=3, in_chans=1, pool="attn")
    feats = tower(torch.randn(2, 1, 32, 32, 32))    # (2, tower.width)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from hybridnets.layers.attention_pool import AttentionPool
from hybridnets.models.delegate import group_matcher_of, no_weight_decay_of
from hybridnets.resolve import create_model, model_source

__all__ = ["IMAGE_POOLING", "ImageTower"]

IMAGE_POOLING = ("attn", "avg")


class ImageTower(nn.Module):
    """A classifier-free backbone plus pooling: ``(B, C, *S)`` → ``(B, width)``.

    Args:
        name: Any name :func:`hybridnets.resolve.create_model` accepts (``convvit_n``,
            ``resnet18``, ``monai_resnet18``, ...); timm models are 2D only.
        spatial_dims: 2 or 3.
        in_chans: Input channels.
        pool: ``"attn"`` (a learned query attends over the last map) or ``"avg"`` (the
            backbone's own pooled features).
        num_heads: Heads of the attention pool (reduced to a divisor of the width).
        input_size: Spatial input size, for timm models with a fixed token grid.
        **model_kwargs: Further backbone constructor arguments.

    ``ImageTower("convvit_test", 2, 1)(torch.randn(2, 1, 32, 32)).shape == (2, 64)``
    """

    def __init__(
        self,
        name: str,
        spatial_dims: int = 2,
        in_chans: int = 1,
        pool: str = "attn",
        num_heads: int = 8,
        input_size: Sequence[int] | None = None,
        **model_kwargs: Any,
    ) -> None:
        super().__init__()
        if pool not in IMAGE_POOLING:
            raise ValueError(f"image pooling must be one of {IMAGE_POOLING}, got {pool!r}")
        self.name = name
        self.monai = model_source(name) == "monai"
        with warnings.catch_warnings():  # MONAI's empty classifier: "zero-element tensors"
            warnings.filterwarnings("ignore", "Initializing zero-element tensors")
            self.backbone = create_model(
                name, spatial_dims, in_chans, 0, input_size=input_size, **model_kwargs
            )
        if self.monai and not hasattr(self.backbone, "layer4"):
            raise TypeError(f"{name} is not a classification backbone; use monai_resnet*")
        # MONAI ResNets keep their empty classifier, so the backbone saves and loads as
        # create_model(name, num_classes=0) builds it
        self.width: int = self.backbone.fc.in_features if self.monai else self.backbone.num_features
        self.pool_type = pool
        heads = math.gcd(num_heads, self.width)
        self.pool = AttentionPool(self.width, heads) if pool == "attn" else nn.Identity()

    def tokens(self, x: Tensor) -> Tensor:
        """The last map as tokens ``(B, L, width)``."""
        net = self.backbone
        if self.monai:
            x = net.act(net.bn1(net.conv1(x)))
            if not net.no_max_pool:
                x = net.maxpool(x)
            x = net.layer4(net.layer3(net.layer2(net.layer1(x))))  # (B, C, *S)
        else:
            x = net.forward_features(x)
        if x.ndim == 3:  # ViT-style tokens already
            return x
        if getattr(net, "output_fmt", "NCHW").startswith("NC"):
            return x.flatten(2).transpose(1, 2)  # (B, C, *S) → (B, L, C)
        return x.flatten(1, -2)  # channels-last (B, *S, C) → (B, L, C)

    def forward(self, x: Tensor) -> Tensor:
        """Images ``(B, in_chans, *S)`` → pooled features ``(B, width)``."""
        if self.pool_type == "attn":
            return self.pool(self.tokens(x))
        if self.monai:
            return self.tokens(x).mean(1)  # MONAI's global average pool
        return self.backbone.forward_head(self.backbone.forward_features(x), pre_logits=True)

    def no_weight_decay(self) -> set[str]:
        """The backbone's ``no_weight_decay()`` names, under this module's prefix."""
        return no_weight_decay_of(self.backbone, "backbone")

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """The backbone's layer groups (layer-wise LR decay); pooling joins the last group."""
        return group_matcher_of(self.backbone, "backbone", coarse)
