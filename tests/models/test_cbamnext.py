"""CBAMNeXt starts as ConvNeXt: the family's checkpoint filter turns ConvNeXt weights into
CBAMNeXt weights whose outputs are ConvNeXt's, and covers the tagged sizes key for key."""

from __future__ import annotations

import pytest
import timm
import torch

import hybridnets
from hybridnets.models.convvit import checkpoint_filter_fn
from hybridnets.pretrained import get_pretrained_cfg


def test_convnext_weights_reproduce_convnext():
    convnext = timm.create_model("convnext_atto", num_classes=10).eval()  # 1×1-conv MLPs
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
    state = checkpoint_filter_fn({"convnext_atto.d2_in1k": convnext.state_dict()}, model)
    model.load_state_dict(state)  # strict: every key, the CBAM gates at their identity init
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items() if ".gate." in k)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), convnext(x), atol=1e-5, rtol=0)
        model.stages[0].blocks[0].gate.fc2.bias.fill_(1.0)  # a gate off the identity acts
        assert not torch.allclose(model(x), convnext(x), atol=1e-3)


@pytest.mark.parametrize(
    ("name", "parent"), [("cbamnext_t", "convnext_tiny"), ("cbamnext_s", "convnext_small")]
)
def test_tags_cover_every_key(name, parent):
    assert get_pretrained_cfg(f"{name}.in1k_timm").source == f"timm:{parent}.fb_in1k"
    with torch.device("meta"):  # shapes only
        convnext, model = timm.create_model(parent), hybridnets.create(name)
    state = checkpoint_filter_fn({f"{parent}.fb_in1k": convnext.state_dict()}, model)
    target = model.state_dict()
    assert state.keys() == target.keys()
    assert all(state[k].shape == target[k].shape for k in target)


def test_transplant_needs_a_convnext_parent():
    model = hybridnets.create("cbamnext_test")
    with pytest.raises(ValueError, match="needs a convnext_\\* parent"):
        checkpoint_filter_fn({"resnet50.a1_in1k": {}}, model)
