"""A 3D segmentation network: a hybridnets encoder under MONAI's UNet decoder blocks.

The encoder's ``features_only`` maps (e.g. strides 4, 8, 16, 32) feed MONAI ``UnetrUpBlock``s, the
decoder MONAI uses in SwinUNETR, and a stride-1 skip from the input restores full resolution.
Inputs of any size work: they are zero-padded up to a multiple of the encoder's total stride
(16 or 32) and the logits are cropped back to the input size.

    python examples/segmentation_3d.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.blocks import UnetOutBlock, UnetrBasicBlock, UnetrUpBlock
from torch import Tensor, nn

import hybridnets


# --8<-- [start:model]
class HybridUNet(nn.Module):
    """``convvit_*`` encoder + MONAI decoder for ``spatial_dims`` 2 or 3."""

    def __init__(
        self,
        encoder: str = "convvit_t",
        spatial_dims: int = 3,
        in_chans: int = 1,
        num_classes: int = 2,
    ) -> None:
        super().__init__()
        self.encoder = hybridnets.create(
            encoder, spatial_dims=spatial_dims, in_chans=in_chans, features_only=True
        )
        chs = self.encoder.feature_info.channels()  # e.g. [96, 192, 384, 768]
        stem_stride = self.encoder.feature_info.reduction()[0]
        self.stride = self.encoder.feature_info.reduction()[-1]  # sizes must be multiples
        if stem_stride not in (2, 4):
            raise ValueError(
                f"the decoder needs an encoder with stem stride 2 or 4, got {stem_stride}"
            )
        common = {"spatial_dims": spatial_dims, "norm_name": "instance", "res_block": True}
        self.skip0 = UnetrBasicBlock(
            in_channels=in_chans, out_channels=chs[0] // 2, kernel_size=3, stride=1, **common
        )
        self.up = nn.ModuleList(
            UnetrUpBlock(
                in_channels=chs[i + 1],
                out_channels=chs[i],
                kernel_size=3,
                upsample_kernel_size=2,
                **common,
            )
            for i in reversed(range(len(chs) - 1))
        )
        self.up_final = UnetrUpBlock(
            in_channels=chs[0],
            out_channels=chs[0] // 2,
            kernel_size=3,
            upsample_kernel_size=stem_stride,
            **common,
        )
        self.out = UnetOutBlock(spatial_dims, chs[0] // 2, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in_chans, *S)`` → logits ``(B, num_classes, *S)`` for any sizes ``S``."""
        size = x.shape[2:]
        pad = [-s % self.stride for s in size]
        if any(pad):  # F.pad lists (before, after) from the last dim back
            x = F.pad(x, [p for extra in reversed(pad) for p in (0, extra)])  # (B, C, *S_pad)
        feats = self.encoder(x)
        y = feats[-1]
        for block, skip in zip(self.up, reversed(feats[:-1])):
            y = block(y, skip)
        y = self.out(self.up_final(y, self.skip0(x)))  # (B, num_classes, *S_pad)
        return y[(..., *(slice(0, s) for s in size))]  # (B, num_classes, *S)


# --8<-- [end:model]


def main() -> None:
    net = HybridUNet("convvit_test", spatial_dims=3, in_chans=1, num_classes=3)
    x = torch.randn(1, 1, 64, 64, 64)
    print("segmentation logits:", tuple(net(x).shape))


if __name__ == "__main__":
    main()
