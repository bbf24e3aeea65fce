"""timm's own model checks (timm ``tests/test_models.py``) over every registered model, 2D and 3D.

Ported: forward, backward (every parameter gets a gradient), the default-cfg checks
(``forward_features``, ``reset_classifier(0)`` and ``(0, "")``, ``global_pool=""`` at
construction, ``first_conv`` / ``classifier`` keys), ``features_only``, and
``forward_intermediates`` (channels, reductions, final features, grad checkpointing), plus the
parts of timm's interface those tests call: ``output_fmt``, ``norm``, ``prune_intermediate_layers``.

TorchScript: timm skips the models it cannot script (its ``EXCLUDE_JIT_FILTERS``). hybridnets
models dispatch attention in Python (``hybridnets.ops``) and partition windows with einops, so
they are in that group; they are checked with ``torch.jit.trace`` here and with
``torch.compile`` in ``test_convvit.py``.

The ``*_test`` sizes run every check as registered; the others run the cheap checks (forward,
default cfg, feature maps) with their layout (depths, block types, stem, window) at tiny widths,
so every registered layout runs in seconds. Volumes run at 16³ where the model allows it.
"""

from __future__ import annotations

import math

import pytest
import timm
import torch
from timm.models._features import FeatureGetterNet

import hybridnets

SMALL = hybridnets.list_models("*_test")
LARGE = [name for name in hybridnets.list_models() if name not in SMALL]
TINY_WIDTHS = {"dims": (16, 32, 48, 64), "num_heads": (1, 1, 2, 2)}
TARGET_SIZE = {2: 32, 3: 16}  # timm's TARGET_*_SIZE: larger defaults run at the minimum input


def _create(name: str, spatial_dims: int, **kwargs) -> torch.nn.Module:
    widths = {} if name in SMALL else TINY_WIDTHS
    return timm.create_model(name, spatial_dims=spatial_dims, **widths, **kwargs)


def _input(model: torch.nn.Module, batch: int) -> torch.Tensor:
    """timm's ``_get_input_size``: the default size, or the minimum if it exceeds the target."""
    cfg = model.pretrained_cfg
    in_chans, *size = cfg["input_size"]
    target = TARGET_SIZE[len(size)]
    if max(size) > target:
        size = [max(cfg["min_input_size"], target)] * len(size)
    return torch.randn(batch, in_chans, *size)


def _check_maps(maps, model, x, channel_axis: int = 1) -> None:
    info = model.feature_info
    channels = info.channels() if hasattr(info, "channels") else [f["num_chs"] for f in info]
    reductions = info.reduction() if hasattr(info, "reduction") else [f["reduction"] for f in info]
    assert len(maps) == len(channels) >= 4
    spatial = [a for a in range(1, x.ndim) if a != channel_axis]
    for c, r, m in zip(channels, reductions, maps):
        assert m.shape[0] == x.shape[0] and m.shape[channel_axis] == c
        assert all(m.shape[a] <= math.ceil(s / r) for a, s in zip(spatial, x.shape[2:]))
        assert not torch.isnan(m).any()


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", SMALL)
def test_model_forward(name, spatial_dims):
    model = _create(name, spatial_dims).eval()
    x = _input(model, batch=1)
    out = model(x)
    assert out.shape == (1, 1000) and not torch.isnan(out).any()


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", SMALL)
def test_model_backward(name, spatial_dims):
    model = _create(name, spatial_dims, num_classes=42).train()
    x = _input(model, batch=2)
    out = model(x)
    out.mean().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None, f"no gradient for {n}"
    assert out.shape[-1] == 42 and not torch.isnan(out).any()


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", SMALL)
def test_model_default_cfgs(name, spatial_dims):
    model = _create(name, spatial_dims).eval()
    cfg, state = model.pretrained_cfg, model.state_dict()
    assert cfg["input_size"][1:] == (cfg["input_size"][-1],) * spatial_dims
    assert timm.get_pretrained_cfg_value(name, "input_size")[-1] == cfg["input_size"][-1]
    assert f"{cfg['first_conv']}.weight" in state and f"{cfg['classifier']}.weight" in state
    x = _input(model, batch=1)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape[:2] == (1, model.num_features)
        model.reset_classifier(0)
        assert model(x).shape == (1, model.num_features)
        model.reset_classifier(0, "")  # no pooling: the normalised map
        assert model(x).shape == features.shape
        unpooled = _create(name, spatial_dims, num_classes=0, global_pool="").eval()
        assert unpooled(x).shape == features.shape


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", SMALL)
def test_model_forward_features(name, spatial_dims):
    model = _create(name, spatial_dims, features_only=True).eval()
    x = _input(model, batch=1)
    with torch.no_grad():
        _check_maps(model(x), model, x)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", SMALL)
def test_model_forward_intermediates(name, spatial_dims):
    model = _create(name, spatial_dims).eval()
    x = _input(model, batch=2)
    with torch.no_grad():
        output, intermediates = model.forward_intermediates(x, output_fmt=model.output_fmt)
        _check_maps(intermediates, model, x)
        torch.testing.assert_close(output, model.forward_features(x))
        model.set_grad_checkpointing()
        again, _ = model.forward_intermediates(x)
        torch.testing.assert_close(again, output, rtol=1e-4, atol=1e-5)

        channels_last = "NHWC" if spatial_dims == 2 else "NDHWC"
        for fmt in (channels_last, "NHWC"):  # timm's rank-generic name works in 3D too
            maps = model.forward_intermediates(x, output_fmt=fmt, intermediates_only=True)
            _check_maps(maps, model, x, channel_axis=-1 % x.ndim)
            torch.testing.assert_close(maps[-1], intermediates[-1].movedim(1, -1))
        normed = model.forward_intermediates(x, indices=[1, 3], norm=True, intermediates_only=True)
        torch.testing.assert_close(normed[0], intermediates[1])  # only the last map is normed
        torch.testing.assert_close(normed[1], model.head.norm(intermediates[3]))
        early = model.forward_intermediates(x, indices=2, stop_early=True, intermediates_only=True)
        assert [m.shape for m in early] == [m.shape for m in intermediates[2:]]
        with pytest.raises(ValueError, match="output_fmt"):
            model.forward_intermediates(x, output_fmt="NLC")


@pytest.mark.parametrize("prune_norm", [True, False])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_prune_intermediate_layers(spatial_dims, prune_norm):
    model = _create("convvit_test", spatial_dims).eval()
    x = _input(model, batch=2)
    with torch.no_grad():
        full = model.forward_intermediates(x, intermediates_only=True)
        norm = model.head.norm
        assert model.prune_intermediate_layers([1, 3], prune_norm=prune_norm) == [1, 3]
        assert len(model.stages) == 4 and model.num_classes == 0
        assert isinstance(model.head.norm, torch.nn.Identity) == prune_norm
        maps = model.forward_intermediates(x, indices=[1, 3], norm=True, intermediates_only=True)
        torch.testing.assert_close(maps[0], full[1])
        torch.testing.assert_close(maps[1], full[3] if prune_norm else norm(full[3]))
        # dropping the final stage drops its norm too; the kept stages are unchanged
        assert model.prune_intermediate_layers([0, 2], prune_norm=False) == [0, 2]
        assert len(model.stages) == 3 and isinstance(model.head.norm, torch.nn.Identity)
        maps = model.forward_intermediates(x, norm=True, intermediates_only=True)
        for got, want in zip(maps, full):
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize("norm", [False, True])
def test_features_only_getter_with_norm(norm):
    """timm's ``FeatureGetterNet(norm=...)`` prunes with ``prune_norm=not norm``."""
    model = _create("convvit_test", 2).eval()
    getter = FeatureGetterNet(model, out_indices=(2, 3), norm=norm)
    x = _input(model, batch=2)
    with torch.no_grad():
        last = getter(x)[-1]
        plain = model.forward_intermediates(x, indices=[3], intermediates_only=True)[0]
        torch.testing.assert_close(last, model.head.norm(plain) if norm else plain)
        assert isinstance(model.head.norm, torch.nn.Identity) != norm


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", SMALL)
def test_model_forward_jit_trace(name, spatial_dims):
    model = _create(name, spatial_dims).eval()
    x = _input(model, batch=1)
    with torch.no_grad():
        traced = torch.jit.trace(model, x, check_trace=False)
        x2 = torch.randn(2, *x.shape[1:])  # another batch, same spatial size
        torch.testing.assert_close(traced(x2), model(x2))


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", LARGE)
def test_large_layouts_forward_at_tiny_width(name, spatial_dims):
    """The cheap checks: forward, default cfg keys, per-stage maps, classifier resets."""
    model = _create(name, spatial_dims).eval()
    cfg, state = model.pretrained_cfg, model.state_dict()
    size = timm.get_pretrained_cfg_value(name, "input_size")
    assert size[0] == 3 and cfg["input_size"][1:] == size[1:2] * spatial_dims
    assert f"{cfg['first_conv']}.weight" in state and f"{cfg['classifier']}.weight" in state
    x = _input(model, batch=1)
    with torch.no_grad():
        features, maps = model.forward_intermediates(x)
        _check_maps(maps, model, x)
        out = model.forward_head(features)
        assert out.shape == (1, 1000) and not torch.isnan(out).any()
        model.reset_classifier(0, "")
        assert model.forward_head(features).shape == features.shape
