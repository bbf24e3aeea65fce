"""convswin and cbamnext: registered sizes, 2D/3D forward and backward, their layouts."""

from __future__ import annotations

import pytest
import timm
import torch

import hybridnets
from hybridnets.layers import CBAM, ConvNeXtBlock, TransformerBlock, WindowAttention

FAMILIES = ["convswin", "cbamnext"]


@pytest.mark.parametrize("family", FAMILIES)
def test_sizes_are_registered(family):
    assert hybridnets.list_models(f"{family}_*") == [f"{family}_s", f"{family}_t", f"{family}_test"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_forward_backward_and_features(family, spatial_dims):
    model = hybridnets.create(
        f"{family}_test", spatial_dims=spatial_dims, in_chans=1, num_classes=2
    )
    x = torch.randn(2, 1, *([32] * spatial_dims))
    y = model(x)
    assert y.shape == (2, 2)
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    feats = model.forward_intermediates(x, intermediates_only=True)
    assert [f.shape[1] for f in feats] == [16, 32, 48, 64]


@pytest.mark.parametrize(("name", "low", "high"), [("convswin_t", 25, 31), ("cbamnext_t", 27, 31)])
def test_tiny_sizes_sit_beside_convnext_t(name, low, high):
    model = hybridnets.create(name)
    assert low <= sum(p.numel() for p in model.parameters()) / 1e6 <= high


def test_convswin_interleaves_conv_and_shifted_windows_in_every_stage():
    model = hybridnets.create("convswin_t")
    for stage in model.stages:
        kinds = {type(b) for b in stage.blocks}
        assert kinds == {ConvNeXtBlock, TransformerBlock}
    windows = [b.attn for b in model.stages[2].blocks if isinstance(b, TransformerBlock)]
    assert all(isinstance(w, WindowAttention) for w in windows)
    assert [w.shift_size for w in windows] == [(0, 0), (3, 3), (0, 0)]


def test_cbamnext_is_convnext_plus_gates():
    model = hybridnets.create("cbamnext_t").eval()
    assert all(isinstance(b.gate, CBAM) for s in model.stages for b in s.blocks)
    convnext = timm.create_model("convnext_tiny").eval()
    state = {k.replace(".gamma", ".ls.gamma"): v for k, v in convnext.state_dict().items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    assert missing and all(".gate." in k for k in missing)
