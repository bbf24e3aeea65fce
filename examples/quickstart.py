"""Quick start: 2D and 3D backbones, multi-scale features, timm interop, backend choice.

python examples/quickstart.py
"""

from __future__ import annotations

import timm
import torch

import hybridnets
from hybridnets import ops


def main() -> None:
    model = hybridnets.create("convvit_t", num_classes=10).eval()  # 2D, ImageNet-style defaults
    with torch.no_grad():
        print("2D logits:", tuple(model(torch.randn(1, 3, 224, 224)).shape))

    ct = hybridnets.create("convvit_n", spatial_dims=3, in_chans=1, num_classes=2).eval()
    with torch.no_grad():
        print("3D logits (28³ CT volume):", tuple(ct(torch.randn(2, 1, 28, 28, 28)).shape))

    backbone = hybridnets.create("convvit_t", spatial_dims=3, in_chans=1, features_only=True)
    with torch.no_grad():
        feats = backbone(torch.randn(1, 1, 64, 64, 64))
    print("3D feature maps:", [tuple(f.shape) for f in feats])
    print(
        "channels / reductions:",
        backbone.feature_info.channels(),
        backbone.feature_info.reduction(),
    )

    timm_model = timm.create_model("convvit_test", num_classes=3)  # visible to timm pipelines
    print("timm.create_model:", type(timm_model).__name__)

    with ops.use_backend("reference"), torch.no_grad():  # force the plain PyTorch attention
        print("reference backend logits:", tuple(ct(torch.randn(1, 1, 28, 28, 28)).shape))


if __name__ == "__main__":
    main()
