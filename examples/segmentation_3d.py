"""A 3D segmentation network: a hybridnets encoder under MONAI's UNet decoder blocks.

The encoder's ``features_only`` maps (e.g. strides 4, 8, 16, 32) feed MONAI ``UnetrUpBlock``s, the
decoder MONAI uses in SwinUNETR, and a stride-1 skip from the input restores full resolution.

    python examples/segmentation_3d.py
"""

from __future__ import annotations

import torch
from monai.networks.blocks import UnetOutBlock, UnetrBasicBlock, UnetrUpBlock
from torch import Tensor, nn

import hybridnets


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
        feats = self.encoder(x)
        y = feats[-1]
        for block, skip in zip(self.up, reversed(feats[:-1])):
            y = block(y, skip)
        return self.out(self.up_final(y, self.skip0(x)))


def main() -> None:
    net = HybridUNet("convvit_test", spatial_dims=3, in_chans=1, num_classes=3)
    x = torch.randn(1, 1, 64, 64, 64)
    print("segmentation logits:", tuple(net(x).shape))


if __name__ == "__main__":
    main()
