"""CBAMNeXt starts as ConvNeXt: ConvNeXt weights give ConvNeXt's output at init."""

from __future__ import annotations

import timm
import torch

import hybridnets


def test_convnext_weights_reproduce_convnext():
    convnext = timm.create_model("convnext_atto", num_classes=10).eval()
    with torch.no_grad():  # non-trivial LayerScale, so a halved branch would show
        for name, p in convnext.named_parameters():
            if name.endswith("gamma"):
                p.normal_(0, 0.5)
    model = hybridnets.create(
        "cbamnext_test",
        dims=(40, 80, 160, 320),
        depths=(2, 2, 6, 2),
        stem_stride=4,
        conv_ls_init_value=1.0,
        num_classes=10,
    ).eval()
    target = model.state_dict()
    state = {k.replace(".gamma", ".ls.gamma"): v for k, v in convnext.state_dict().items()}
    state = {k: v.reshape(target[k].shape) for k, v in state.items()}  # 1x1-conv MLP → linear
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(".gate." in k for k in missing)  # only CBAM is new
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), convnext(x), atol=1e-5, rtol=0)
