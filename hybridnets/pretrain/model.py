"""Masked image modelling around any hybridnets backbone, 2D and 3D, written once.

A random share of the input's patches is hidden and a light decoder
(:class:`~hybridnets.pretrain.decoder.MaskedDecoder`) reconstructs their normalised pixels from
the encoder's maps; the loss counts masked patches only (MAE, He et al., CVPR 2022). Two ways to
hide them, chosen with ``style``:

- ``"token"`` (SimMIM, Xie et al., CVPR 2022): masked pixels are zeroed and the stem's output at
  masked positions is replaced by a learned mask token; the encoder then runs densely and fills
  the hole from context, as it will at fine-tuning.
- ``"dense"`` (ConvNeXt V2's FCMAE, Woo et al., CVPR 2023, without sparse convolutions): masked
  pixels are zeroed and the mask is applied again after the stem, every downsampling and every
  block, so no position of a masked patch ever holds content; the decoder alone fills the hole.

Either way the masked pixels are zeroed before the stem: its overlapping convolutions would
otherwise read a masked patch's pixels into its visible neighbours (``tests/pretrain`` checks
that the encoder's output at a masked patch does not depend on that patch's pixels).

    mim = MaskedImageModel(hybridnets.create("convvit_n", num_classes=0, in_chans=1))
    loss = mim(x)               # x (B, 1, 28, 28), standardised
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import trunc_normal_
from torch import Tensor, nn

from hybridnets.layers import TransformerBlock
from hybridnets.models.delegate import no_weight_decay_of
from hybridnets.pretrain.decoder import MaskedDecoder
from hybridnets.pretrain.masking import patchify, pool_visible, random_visible, visible_at

__all__ = ["DECODER_FROM", "MASK_STYLES", "MaskedImageModel", "default_mask_patch"]

MASK_STYLES = ("token", "dense")
DECODER_FROM = ("pyramid", "last")


def default_mask_patch(stem_stride: int, input_size: int) -> int:
    """The coarsest patch ``stem_stride · 2^k`` that leaves at least 7 patches per side (4 px at
    28², 8 px at 64³, 32 px at 224², ConvNeXt V2's and SimMIM's choice)."""
    patch = stem_stride
    while input_size // (patch * 2) >= 7 and input_size % (patch * 2) == 0:
        patch *= 2
    return patch


class MaskedImageModel(nn.Module):
    """A hybridnets backbone (``stem`` + ``stages``), a mask and a decoder; ``forward`` → loss.

    Args:
        encoder: A hybridnets model (``ConvViT`` family) built with ``num_classes=0``.
        mask_patch: Patch edge in pixels; inputs must be a multiple of it. None:
            :func:`default_mask_patch` of the model's native input size.
        mask_ratio: Share of patches hidden per sample.
        style: ``"dense"`` (default) or ``"token"`` (see the module docstring).
        decoder_dim: Decoder width.
        decoder_depth: Decoder conv blocks.
        norm_pix_loss: Targets are each patch's pixels standardised per patch (MAE's choice).
        decoder_from: ``"pyramid"`` (every stage at the mask grid or coarser) or ``"last"`` (the
            last stage only, so the whole encoder must carry what the decoder needs).
    """

    def __init__(
        self,
        encoder: nn.Module,
        mask_patch: int | None = None,
        mask_ratio: float = 0.6,
        style: str = "dense",
        decoder_dim: int = 128,
        decoder_depth: int = 1,
        norm_pix_loss: bool = True,
        decoder_from: str = "last",
    ) -> None:
        super().__init__()
        if style not in MASK_STYLES:
            raise ValueError(f"mask style must be one of {MASK_STYLES}, got {style!r}")
        if not (hasattr(encoder, "stem") and hasattr(encoder, "stages")):
            raise TypeError(
                f"masked image modelling needs a hybridnets backbone (stem + stages), got "
                f"{type(encoder).__name__}; pick a convvit_/convswin_/cbamnext_ model"
            )
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio!r}")
        self.encoder = encoder
        self.spatial_dims = encoder.spatial_dims
        self.in_chans = encoder.in_chans
        if mask_patch is None:
            size = encoder.pretrained_cfg["input_size"][-1]
            mask_patch = default_mask_patch(encoder.feature_info[0]["reduction"], size)
        self.mask_patch = int(mask_patch)
        self.mask_ratio = mask_ratio
        self.style = style
        self.norm_pix_loss = norm_pix_loss
        if decoder_from not in DECODER_FROM:
            raise ValueError(f"decoder_from must be one of {DECODER_FROM}, got {decoder_from!r}")
        # the last stage, or every stage at the mask grid or coarser, feeds the decoder
        reductions = [info["reduction"] for info in encoder.feature_info]
        last = len(reductions) - 1
        self.decoder_stages = [i for i, r in enumerate(reductions) if r >= self.mask_patch]
        if decoder_from == "last" or not self.decoder_stages:
            self.decoder_stages = [last]
        self.decoder = MaskedDecoder(
            [encoder.feature_info[i]["num_chs"] for i in self.decoder_stages],
            [max(1, reductions[i] // self.mask_patch) for i in self.decoder_stages],
            self.spatial_dims,
            self.mask_patch**self.spatial_dims * self.in_chans,
            decoder_dim,
            decoder_depth,
        )
        dim0 = encoder.feature_info[0]["num_chs"]
        self.mask_token = nn.Parameter(torch.zeros(1, dim0, *([1] * self.spatial_dims)))
        trunc_normal_(self.mask_token, std=0.02)
        self._visible: Tensor | None = None  # the pixel mask of the batch being encoded
        if style == "dense":
            for stage in encoder.stages:
                stage.downsample.register_forward_hook(self._remask)
                for block in stage.blocks:
                    block.register_forward_hook(self._remask)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Mask tokens and the encoder's own exclusions are not decayed."""
        return {"mask_token", "decoder.mask_token"} | no_weight_decay_of(self.encoder, "encoder")

    def _remask(self, module: nn.Module, args: tuple, out: Tensor) -> Tensor | None:
        """Forward hook (``dense``): zero the masked positions of a block's output."""
        if self._visible is None or isinstance(module, nn.Identity):
            return None
        last = isinstance(module, TransformerBlock)  # attention blocks return (B, *S, C)
        size = out.shape[1:-1] if last else out.shape[2:]
        v = pool_visible(self._visible, size).to(out.dtype)
        return out * (v.movedim(1, -1) if last else v)

    def grid(self, x: Tensor) -> tuple[int, ...]:
        """The mask grid of an input ``(B, C, *S)``."""
        spatial = tuple(x.shape[2:])
        if any(s % self.mask_patch for s in spatial):
            raise ValueError(
                f"input size {spatial} is not a multiple of the mask patch {self.mask_patch}; "
                "resize the input (`input_size`) or choose another `mask_patch`"
            )
        return tuple(s // self.mask_patch for s in spatial)

    def encode(self, x: Tensor, visible: Tensor) -> list[Tensor]:
        """The maps of every stage, ``[(B, C_i, *S_i)]``, with the patches where ``visible``
        ``(B, *grid)`` is False hidden."""
        self.encoder.check_input(x)
        v_px = visible_at(visible, x.shape[2:], x.shape[2:]).to(x.dtype)  # (B, 1, *S)
        h = self.encoder.stem(x * v_px)
        v = visible_at(visible, h.shape[2:], x.shape[2:]).to(h.dtype)
        token = self.mask_token.to(h.dtype) if self.style == "token" else 0.0
        h = h * v + token * (1 - v)
        maps = []
        self._visible = v_px if self.style == "dense" else None
        try:
            for stage in self.encoder.stages:
                h = stage(h)
                maps.append(h)
        finally:
            self._visible = None
        return maps

    def forward(
        self,
        x: Tensor,
        visible: Tensor | None = None,
        generator: torch.Generator | None = None,
        target: Tensor | None = None,
    ) -> Tensor:
        """Mean squared error over the masked patches of ``x`` ``(B, C, *S)``.

        Args:
            x: The input.
            visible: ``(B, *grid)`` bool mask, True = visible (default: a random one at
                ``mask_ratio`` drawn with ``generator``).
            generator: Random generator of the default mask.
            target: What to reconstruct (default: ``x`` itself; e.g. a clean image when ``x``
                is a noisy one).
        """
        grid = self.grid(x)
        if visible is None:
            visible = random_visible(len(x), grid, self.mask_ratio, generator, x.device)
        pred = self.predict(x, visible)  # (B, *grid, P)
        target = patchify(x if target is None else target, self.mask_patch).float()  # (B, *grid, P)
        if self.norm_pix_loss:
            mean = target.mean(-1, keepdim=True)
            var = target.var(-1, keepdim=True, unbiased=False)
            target = (target - mean) / (var + 1e-6).sqrt()
        err = (pred.float() - target).square().mean(-1)  # (B, *grid)
        masked = (~visible).to(err.dtype)
        return (err * masked).sum() / masked.sum().clamp_min(1)

    def predict(self, x: Tensor, visible: Tensor) -> Tensor:
        """Predicted (normalised) pixels of every patch, ``(B, *grid, patch^d · C)``."""
        grid = self.grid(x)
        maps = self.encode(x, visible)
        v = visible[:, None].to(maps[-1].dtype)  # (B, 1, *grid)
        pred = self.decoder([maps[i] for i in self.decoder_stages], v, grid)
        return pred.movedim(1, -1)  # (B, *grid, P)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, visible: Sequence[bool] | Tensor) -> Tensor:
        """The decoder's view of ``x``: predicted patches (in each patch's own normalisation
        when ``norm_pix_loss``) laid back into an image ``(B, C, *S)``, for inspection."""
        visible = torch.as_tensor(visible, dtype=torch.bool, device=x.device)
        pred = self.predict(x, visible)  # (B, *grid, P)
        b, c, p, d = len(x), self.in_chans, self.mask_patch, self.spatial_dims
        grid = pred.shape[1:-1]
        pred = pred.reshape(b, *grid, *([p] * d), c)
        order = [0, 2 * d + 1]
        for i in range(d):
            order += [1 + i, 1 + d + i]
        return pred.permute(order).reshape(b, c, *(g * p for g in grid))
