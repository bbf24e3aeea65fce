"""convswin and cbamnext: registered sizes, 2D/3D forward and backward, their layouts."""

from __future__ import annotations

import pytest
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


# Exact counts (1000 classes, 2D, RGB); ConvNeXt-T has 28.6M, Swin-T 28.3M.
PARAMS = {  # every registered model (ImageNet defaults: 2D, 3 channels, 1000 classes)
    "convvit_test": 267_342,
    "convvit_n": 3_396_360,
    "convvit_t": 28_325_248,
    "convvit_s": 49_643_152,
    "convvit_b": 87_817_416,
    "convswin_test": 251_294,
    "convswin_t": 27_666_037,
    "convswin_s": 52_748_029,
    "cbamnext_test": 182_191,
    "cbamnext_t": 29_003_458,
    "cbamnext_s": 50_978_920,
}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_counts_are_pinned(name):
    assert set(PARAMS) == set(hybridnets.list_models())
    with torch.device("meta"):  # shapes only
        model = hybridnets.create(name)
    count = sum(p.numel() for p in model.parameters())
    assert count == pytest.approx(PARAMS[name], rel=0.005)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("size", [(29, 31), (27, 29, 31)], ids=["2d", "3d"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_odd_sizes(family, size, train):
    """Patch stem and downsampling floor odd sizes; window blocks pad odd maps and mask the pad."""
    model = hybridnets.create(f"{family}_test", spatial_dims=len(size), in_chans=1, num_classes=2)
    model.train(train)
    x = torch.randn(2 if train else 1, 1, *size)
    feats = model.forward_intermediates(x, intermediates_only=True)
    reductions = [info["reduction"] for info in model.feature_info]
    assert [tuple(f.shape[2:]) for f in feats] == [tuple(s // r for s in size) for r in reductions]
    y = model(x)
    assert y.shape == (x.shape[0], 2) and torch.isfinite(y).all()
    if train:
        y.sum().backward()
        assert all(p.grad is not None for p in model.parameters())
    else:
        torch.testing.assert_close(model(x), y)


def test_convswin_interleaves_conv_and_shifted_windows_in_every_stage():
    model = hybridnets.create("convswin_t")
    for stage in model.stages:
        kinds = {type(b) for b in stage.blocks}
        assert kinds == {ConvNeXtBlock, TransformerBlock}
    windows = [b.attn for b in model.stages[2].blocks if isinstance(b, TransformerBlock)]
    assert all(isinstance(w, WindowAttention) for w in windows)
    assert [w.shift_size for w in windows] == [(0, 0), (3, 3), (0, 0)]


def test_cbamnext_gates_every_block():
    model = hybridnets.create("cbamnext_test")
    assert all(isinstance(b.gate, CBAM) for s in model.stages for b in s.blocks)


@pytest.mark.parametrize("family", ["convvit", *FAMILIES])
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_size": 0}, r"window_size must be an integer >= 1, got 0"),
        ({"in_chans": 0}, r"in_chans must be an integer >= 1, got 0"),
        ({"num_classes": -1}, r"num_classes must be an integer >= 0 \(0: no classifier\), got -1"),
        ({"num_classes": 2.5}, r"num_classes must be an integer"),
        ({"dims": (16, 0, 48, 64)}, r"every entry of dims must be an integer >= 1"),
        ({"depths": (1, 1, -1, 1)}, r"every entry of depths must be an integer >= 1"),
        ({"drop_path_rate": 1.0}, r"drop_path_rate must be in \[0, 1\)"),
        ({"stem_stride": 0}, r"stem_stride must be an integer >= 1"),
    ],
)
def test_bad_constructor_arguments_are_named(family, kwargs, message):
    with pytest.raises(ValueError, match=message):
        hybridnets.create(f"{family}_test", **kwargs)


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match=r"dims\[2\]=48 is not divisible by its 5 attention"):
        hybridnets.create("convswin_test", num_heads=(1, 1, 5, 2))


def test_reset_classifier_checks_num_classes():
    model = hybridnets.create("cbamnext_test")
    with pytest.raises(ValueError, match=r"num_classes must be an integer >= 0"):
        model.reset_classifier(-3)
