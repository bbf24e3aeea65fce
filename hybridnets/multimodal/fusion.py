"""Image + table and image + image classifiers, 2D and 3D, from any hybridnets or timm backbone.

The backbone's last map (``forward_features``) is flattened into tokens and fused with one
token per clinical variable (:class:`~hybridnets.multimodal.tabular.TabularTokenizer`):

- ``"late"``: pooled image features and mean tabular token, concatenated → MLP head (the
  baseline).
- ``"cross"``: image tokens attend to the tabular tokens through the gated
  :class:`~hybridnets.layers.cross_attention.CrossAttentionFusion` (Flamingo's tanh gate, zero at
  init), then the backbone's own head: at init the model computes exactly the image-only
  classifier, so it can start from an image-only checkpoint.
- ``"coattn"``: bidirectional gated :class:`~hybridnets.layers.cross_attention.CoAttention`
  between image and tabular tokens (BioFusionNet; Mondol et al., IEEE JBHI 2024), both pooled
  → MLP head.

``table_dropout`` withholds the table from a random share of the training samples, so the
model also learns to classify without it, and ``use_table = False`` withholds it from every
sample (``"cross"``: exactly the image path alone; ``"late"`` / ``"coattn"``: zero clinical
tokens): the recipe keeps the table only where it helps on validation.

:class:`TwoViewClassifier` fuses two views or sequences (frontal + lateral, T1 + T2) the same
way, with one shared backbone or two.

    model = FusionClassifier("convvit_n", 2, 3, num_classes=7, tabular=pre.spec, fusion="cross")
    logits = model(images, *pre.transform(rows))                          # (B, 7)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from hybridnets.data.tabular import TabularPreprocessor, TabularSpec
from hybridnets.layers.cross_attention import CoAttention, CrossAttentionFusion
from hybridnets.models.delegate import no_weight_decay_of
from hybridnets.multimodal.tabular import TabularTokenizer
from hybridnets.resolve import create_model

__all__ = ["FUSION_MODES", "FusionClassifier", "TwoViewClassifier", "use_clinical_columns"]

FUSION_MODES = ("late", "cross", "coattn")


def _backbone(
    image: str | nn.Module,
    spatial_dims: int,
    in_chans: int,
    num_classes: int,
    input_size: Sequence[int] | None,
    **model_kwargs: Any,
) -> nn.Module:
    """A module with ``forward_features`` / ``forward_head``: ``image`` itself or built by name."""
    if isinstance(image, str):
        net = create_model(
            image, spatial_dims, in_chans, num_classes, input_size=input_size, **model_kwargs
        )
    else:
        net = image
        if num_classes == 0 and hasattr(net, "reset_classifier"):
            net.reset_classifier(0)  # its head is unused here; no parameters without gradients
    missing = [
        m for m in ("forward_features", "forward_head", "num_features") if not hasattr(net, m)
    ]
    if missing:
        raise TypeError(
            f"{type(net).__name__} has no {', '.join(missing)}: fusion needs a hybridnets or timm "
            "backbone (MONAI networks: wrap them in hybridnets.multimodal.ImageTower first)"
        )
    return net


def _channels_first(feat: Tensor, net: nn.Module) -> Tensor:
    """Backbone features → ``(B, C, *S)``: ViT tokens ``(B, L, C)`` and channels-last maps too."""
    if feat.ndim == 3 and not getattr(net, "output_fmt", "").startswith("NC"):
        return feat.transpose(1, 2)  # (B, L, C) → (B, C, L)
    if not getattr(net, "output_fmt", "NCHW").startswith("NC"):
        return feat.movedim(-1, 1)  # (B, *S, C) → (B, C, *S)
    return feat


def _native(x: Tensor, net: nn.Module, feat_ndim: int) -> Tensor:
    """Inverse of :func:`_channels_first`: ``(B, C, *S)`` → the layout ``forward_head`` takes."""
    if feat_ndim == 3 and not getattr(net, "output_fmt", "").startswith("NC"):
        return x.transpose(1, 2)  # (B, C, L) → (B, L, C)
    if not getattr(net, "output_fmt", "NCHW").startswith("NC"):
        return x.movedim(1, -1)  # (B, C, *S) → (B, *S, C)
    return x


def _mlp_head(in_dim: int, hidden: int, num_classes: int, drop_rate: float) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(in_dim),
        nn.Linear(in_dim, hidden),
        nn.GELU(),
        nn.Dropout(drop_rate),
        nn.Linear(hidden, num_classes),
    )


class FusionClassifier(nn.Module):
    """Image backbone + tabular tokens fused by ``"late"``, ``"cross"`` or ``"coattn"``.

    Args:
        image: A model name for :func:`hybridnets.resolve.create_model` (hybridnets any
            dimension, timm 2D) or a built backbone with ``forward_features``/``forward_head``
            (for ``"cross"`` give it with its ``num_classes`` head; it is used as is).
        spatial_dims: 2 or 3.
        in_chans: Image channels.
        num_classes: Output classes.
        tabular: The columns: a fitted :class:`TabularPreprocessor` or its ``spec``.
        fusion: One of :data:`FUSION_MODES`.
        dim: Width of the tabular tokens (and of the late/co-attention MLP head).
        num_heads: Attention heads (reduced to a divisor of the widths).
        drop_rate: Dropout before the last layer of the MLP head.
        input_size: Spatial input size, for timm models with a fixed token grid.
        table_dropout: In training, the probability that a sample's table is withheld (see
            ``use_table``), so the model also learns to classify from the image alone.
        **model_kwargs: Further backbone constructor arguments.

    Attributes:
        use_table: False withholds the table from every sample: ``"cross"`` then computes
            exactly the image-only classifier it holds, ``"late"`` and ``"coattn"`` see zero
            clinical tokens.

    ``FusionClassifier("convvit_test", 3, 1, 2, pre.spec)(x, *pre.transform(rows))``
    """

    def __init__(
        self,
        image: str | nn.Module,
        spatial_dims: int = 2,
        in_chans: int = 1,
        num_classes: int = 2,
        tabular: TabularSpec | TabularPreprocessor | None = None,
        fusion: str = "cross",
        dim: int = 64,
        num_heads: int = 4,
        drop_rate: float = 0.0,
        input_size: Sequence[int] | None = None,
        table_dropout: float = 0.0,
        **model_kwargs: Any,
    ) -> None:
        super().__init__()
        if fusion not in FUSION_MODES:
            raise ValueError(f"fusion must be one of {FUSION_MODES}, got {fusion!r}")
        if not 0.0 <= table_dropout < 1.0:
            raise ValueError(f"table_dropout must be in [0, 1), got {table_dropout}")
        self.table_dropout, self.use_table = table_dropout, True
        if tabular is None:
            raise ValueError("FusionClassifier needs tabular=<TabularSpec or fitted preprocessor>")
        spec = tabular.spec if isinstance(tabular, TabularPreprocessor) else tabular
        self.fusion_type = fusion
        head_classes = num_classes if fusion == "cross" else 0
        self.image = _backbone(
            image, spatial_dims, in_chans, head_classes, input_size, **model_kwargs
        )
        width: int = self.image.num_features
        self.tabular = TabularTokenizer(spec, dim)
        if fusion == "cross":
            # a learned "nothing to read" context token: attention can ignore the table
            self.null_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.fusion = CrossAttentionFusion(width, dim, math.gcd(num_heads, width))
            self.head = None
        else:
            heads = math.gcd(num_heads, width, dim)
            self.fusion = CoAttention(width, dim, heads) if fusion == "coattn" else None
            self.head = _mlp_head(width + dim, max(dim, 64), num_classes, drop_rate)

    def _fuse(
        self,
        x: Tensor,
        numeric: Tensor,
        numeric_missing: Tensor | None,
        categorical: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """The fused image map in the backbone's own layout, and the tabular tokens."""
        net = self.image
        feat = net.forward_features(x)
        fmap = _channels_first(feat, net)  # (B, C, *S)
        table = self.tabular(numeric, numeric_missing, categorical)  # (B, V, dim)
        keep = self._keep(len(table), table.device)  # (B,) samples that see their table
        if self.fusion_type == "cross":
            if self.use_table:  # without it: the image-only classifier, exactly
                context = torch.cat([self.null_token.expand(len(table), -1, -1), table], 1)
                fused = self.fusion(fmap, context)  # (B, C, *S); exactly fmap while the gate is 0
                mask = None if keep is None else keep.view(-1, *[1] * (fmap.ndim - 1))
                fmap = fused if mask is None else torch.where(mask, fused, fmap)
            return _native(fmap, net, feat.ndim), table
        if keep is not None:
            table = table * keep.view(-1, 1, 1).to(table.dtype)
        if self.fusion_type == "coattn":
            b, c, *size = fmap.shape
            tokens = fmap.flatten(2).transpose(1, 2)  # (B, L, C)
            tokens, table = self.fusion(tokens, table)
            fmap = tokens.transpose(1, 2).reshape(b, c, *size)  # (B, C, *S)
        return _native(fmap, net, feat.ndim), table

    def _keep(self, batch: int, device: torch.device) -> Tensor | None:
        """Which samples see their table: None for all of them, else a ``(B,)`` mask (none
        without ``use_table``; a random ``1 - table_dropout`` share in training)."""
        if not self.use_table:
            return torch.zeros(batch, dtype=torch.bool, device=device)
        if self.training and self.table_dropout > 0:
            return torch.rand(batch, device=device) >= self.table_dropout
        return None

    def forward_features(
        self,
        x: Tensor,
        numeric: Tensor,
        numeric_missing: Tensor | None = None,
        categorical: Tensor | None = None,
    ) -> Tensor:
        """Fused pre-logit features: ``(B, C)`` for ``"cross"`` (C the backbone width), else
        ``(B, C + dim)`` (pooled image, mean tabular token)."""
        fmap, table = self._fuse(x, numeric, numeric_missing, categorical)
        pooled = self.image.forward_head(fmap, pre_logits=True)  # (B, C)
        return pooled if self.head is None else torch.cat([pooled, table.mean(1)], 1)

    def forward(
        self,
        x: Tensor,
        numeric: Tensor,
        numeric_missing: Tensor | None = None,
        categorical: Tensor | None = None,
    ) -> Tensor:
        """Images ``(B, in_chans, *S)`` and a :class:`~hybridnets.data.tabular.TabularBatch` → logits ``(B, classes)``."""
        if self.head is None:  # "cross": the backbone's own head, as in the image-only model
            fmap, _ = self._fuse(x, numeric, numeric_missing, categorical)
            return self.image.forward_head(fmap)
        return self.head(self.forward_features(x, numeric, numeric_missing, categorical))

    def get_classifier(self) -> nn.Module:
        """The last layer: the backbone's classifier (``"cross"``) or the MLP head's."""
        return self.image.get_classifier() if self.head is None else self.head[-1]

    def no_weight_decay(self) -> set[str]:
        """The backbone's ``no_weight_decay()`` names, plus the gates and the null token."""
        gates = {n for n, _ in self.named_parameters() if n.endswith(("gate", "gate_a", "gate_b"))}
        extra = {"null_token"} if self.fusion_type == "cross" else set()
        return no_weight_decay_of(self.image, "image") | gates | extra


def use_clinical_columns(model: nn.Module, use_table: bool) -> None:
    """Set ``FusionClassifier.use_table`` of every fusion classifier in ``model`` (an
    EMA copy or a DDP wrapper too); a model without one is left as is."""
    for module in model.modules():
        if isinstance(module, FusionClassifier):
            module.use_table = use_table


class TwoViewClassifier(nn.Module):
    """Two views or sequences of one case, fused by bidirectional gated co-attention between
    their token maps, both pooled → MLP head.

    Args:
        image: A model name or a built backbone (see :class:`FusionClassifier`).
        spatial_dims: 2 or 3.
        in_chans: Channels of each view.
        num_classes: Output classes.
        shared: One backbone for both views (True) or a copy each (False).
        num_heads: Co-attention heads (reduced to a divisor of the width).
        drop_rate: Dropout before the last layer of the head.
        input_size: Spatial input size, for timm models with a fixed token grid.
        **model_kwargs: Further backbone constructor arguments.

    ``TwoViewClassifier("convvit_test", 2, 1, 3)(frontal, lateral).shape == (B, 3)``
    """

    def __init__(
        self,
        image: str | nn.Module,
        spatial_dims: int = 2,
        in_chans: int = 1,
        num_classes: int = 2,
        shared: bool = True,
        num_heads: int = 4,
        drop_rate: float = 0.0,
        input_size: Sequence[int] | None = None,
        **model_kwargs: Any,
    ) -> None:
        super().__init__()
        self.image = _backbone(image, spatial_dims, in_chans, 0, input_size, **model_kwargs)
        self.image_b = None if shared else copy.deepcopy(self.image)
        width: int = self.image.num_features
        self.fusion = CoAttention(width, width, math.gcd(num_heads, width))
        self.head = _mlp_head(2 * width, width, num_classes, drop_rate)

    def _tokens(self, net: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
        feat = net.forward_features(x)
        return _channels_first(feat, net), feat  # (B, C, *S), native

    def forward(self, x_a: Tensor, x_b: Tensor) -> Tensor:
        """Views ``(B, in_chans, *S_a)`` and ``(B, in_chans, *S_b)`` → logits ``(B, classes)``."""
        net_a, net_b = self.image, self.image_b or self.image
        maps, feats = zip(self._tokens(net_a, x_a), self._tokens(net_b, x_b))
        tokens = [m.flatten(2).transpose(1, 2) for m in maps]  # 2 × (B, L_v, C)
        fused = self.fusion(*tokens)
        pooled = []
        for net, m, t, f in zip((net_a, net_b), maps, fused, feats):
            fmap = t.transpose(1, 2).reshape(m.shape)  # (B, C, *S_v)
            pooled.append(net.forward_head(_native(fmap, net, f.ndim), pre_logits=True))
        return self.head(torch.cat(pooled, 1))  # (B, 2C) → (B, classes)

    def no_weight_decay(self) -> set[str]:
        """The backbones' ``no_weight_decay()`` names plus the co-attention gates."""
        names = no_weight_decay_of(self.image, "image") | {"fusion.gate_a", "fusion.gate_b"}
        return names | (no_weight_decay_of(self.image_b, "image_b") if self.image_b else set())
