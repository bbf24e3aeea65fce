"""Contrastive pretraining around any backbone, 2D and 3D: two views of an image agree.

Each unlabelled image is augmented twice (:class:`~hybridnets.pretrain.views.ContrastiveViews`:
strong crops, rotations, flips, contrast and noise); the encoder's pooled features go through a
small projection MLP and the two views of an image are pulled together against every other image
of the batch with the symmetric InfoNCE loss (SimCLR, Chen et al., ICML 2020; the symmetric,
cross-view form of MoCo v3, Chen et al., ICCV 2021), the same loss the image–text recipe uses
(:func:`hybridnets.multimodal.loss.clip_loss`, gathered across ranks under torchrun). The
projection head is discarded after pretraining; the pooled features are what a linear probe or
a fine-tune starts from.

Unlike masked image modelling, which teaches local structure (reconstructing a few pixels), this
objective asks for features that stay the same under the augmentations and differ between
images: what a frozen-feature probe needs.

    model = ContrastiveModel(hybridnets.create("convvit_n", num_classes=0, in_chans=1))
    loss = model(view_a, view_b)          # (B, 1, 28, 28) each, standardised
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hybridnets.models.delegate import no_weight_decay_of
from hybridnets.multimodal.loss import clip_loss

__all__ = ["ContrastiveModel"]


class ContrastiveModel(nn.Module):
    """An encoder (pooled features), a projection MLP and a fixed temperature; ``forward`` → loss.

    Args:
        encoder: Any model built with ``num_classes=0`` whose ``forward`` returns pooled
            features ``(B, num_features)`` (hybridnets, timm and ``monai_*`` models through
            ``hybridnets.create``).
        proj_dim: Width of the projected embedding the loss compares.
        hidden_dim: Hidden width of the projection MLP (Linear–BatchNorm–ReLU–Linear, SimCLR's).
        temperature: Softmax temperature of the InfoNCE logits (SimCLR: 0.1–0.5; lower is
            sharper).
    """

    def __init__(
        self,
        encoder: nn.Module,
        proj_dim: int = 128,
        hidden_dim: int = 512,
        temperature: float = 0.2,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        features = getattr(encoder, "num_features", None)
        if not features:
            raise TypeError(
                f"{type(encoder).__name__} does not say its pooled width (num_features); build "
                "it with hybridnets.create(name, num_classes=0)"
            )
        self.encoder = encoder
        self.temperature = temperature
        self.projector = nn.Sequential(
            nn.Linear(features, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, proj_dim),
        )

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """The encoder's own exclusions (relative-position tables, tokens)."""
        return no_weight_decay_of(self.encoder, "encoder")

    def embed(self, x: Tensor) -> Tensor:
        """L2-normalised projections ``(B, proj_dim)`` of a batch."""
        return F.normalize(self.projector(self.encoder(x)).float(), dim=-1)

    def forward(self, view_a: Tensor, view_b: Tensor) -> Tensor:
        """Symmetric InfoNCE between two views; row ``i`` of each is the same image.

        Both views go through the encoder as one batch, so BatchNorm sees them together (as in
        SimCLR) and one forward pass serves both.
        """
        if view_a.shape != view_b.shape:
            raise ValueError(
                f"the two views must have the same shape, got {tuple(view_a.shape)} and "
                f"{tuple(view_b.shape)}"
            )
        z = self.embed(torch.cat([view_a, view_b]))
        z_a, z_b = z.chunk(2)
        return clip_loss(z_a, z_b, 1.0 / self.temperature)
