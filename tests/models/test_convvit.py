"""The convvit family × spatial_dims: forward, backward, features, timm interface, errors."""

from __future__ import annotations

import json

import pytest
import timm
import torch

import hybridnets
from hybridnets.models import ConvViT

MODELS = hybridnets.list_models("convvit_*")


# Exact counts (1000 classes, 2D, RGB); a layout change must update them on purpose.
def _input(model: ConvViT, batch: int = 2, size: int | None = None) -> torch.Tensor:
    size = size or max(model.min_input_size, 32)
    return torch.randn(batch, model.in_chans, *([size] * model.spatial_dims))


def test_family_is_registered():
    assert MODELS == ["convvit_b", "convvit_n", "convvit_s", "convvit_t", "convvit_test"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_forward_backward(name, spatial_dims):
    model = hybridnets.create(
        name, spatial_dims=spatial_dims, in_chans=1, num_classes=3, drop_path_rate=0.1
    )
    x = _input(model, batch=2 if name in ("convvit_test", "convvit_n") else 1)
    y = model(x)
    assert y.shape == (x.shape[0], 3) and torch.isfinite(y).all()
    y.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_intermediates_features_only_and_feature_info(spatial_dims):
    model = hybridnets.create("convvit_test", spatial_dims=spatial_dims).eval()
    x = _input(model, size=48)
    final, feats = model.forward_intermediates(x)
    assert len(feats) == 4
    for f, info in zip(feats, model.feature_info):
        assert f.shape == (2, info["num_chs"], *([48 // info["reduction"]] * spatial_dims))
    torch.testing.assert_close(final, model.forward_features(x))
    assert [
        f.shape for f in model.forward_intermediates(x, indices=2, intermediates_only=True)
    ] == [f.shape for f in feats[2:]]
    extractor = hybridnets.create(
        "convvit_test", spatial_dims=spatial_dims, features_only=True, out_indices=(1, 3)
    ).eval()
    extractor.model.load_state_dict(model.state_dict(), strict=False)
    out = extractor(x)
    assert len(out) == 2
    torch.testing.assert_close(out[0], feats[1])
    torch.testing.assert_close(out[1], feats[3])
    assert extractor.feature_info.channels() == [32, 64]


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_head_pre_logits_reset_and_determinism(spatial_dims):
    model = hybridnets.create("convvit_test", spatial_dims=spatial_dims, num_classes=5).eval()
    x = _input(model)
    feats = model.forward_features(x)
    assert model.forward_head(feats, pre_logits=True).shape == (2, model.num_features)
    torch.testing.assert_close(model(x), model(x))
    model.reset_classifier(7)
    assert model(x).shape == (2, 7) and model.get_classifier().out_features == 7
    model.reset_classifier(0)
    assert model(x).shape == (2, model.num_features)


def test_timm_interop():
    torch.manual_seed(1)
    ours = hybridnets.create("convvit_test", num_classes=4).eval()
    torch.manual_seed(1)
    theirs = timm.create_model("convvit_test", num_classes=4).eval()
    x = _input(ours)
    torch.testing.assert_close(ours(x), theirs(x))
    feats = timm.create_model("convvit_test", features_only=True, out_indices=(0, 2))
    assert [f.shape[1] for f in feats(x)] == [16, 48]
    assert "convvit_t" in timm.list_models("convvit_*")


def test_layout_overrides_and_options():
    model = hybridnets.create(
        "convvit_test", stem_stride=1, window_size=2, cbam=True, stem_type="overlap"
    )
    assert model.min_input_size == 8 and model.cfg.window_size == 2
    assert model.hybridnets_config == {
        "architecture": "convvit_test",
        "kwargs": {"stem_stride": 1, "window_size": 2, "cbam": True, "stem_type": "overlap"},
    }
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 1000)
    n = hybridnets.create("convvit_n", spatial_dims=3, in_chans=1, num_classes=2)
    assert n(torch.randn(2, 1, 28, 28, 28)).shape == (2, 2)  # MedMNIST 3D natively


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{"dims": [32, 64, 192, 384]}', {"dims": (32, 64, 192, 384)}),
        (
            '{"block_types": ["C", "C", "W", "G"], "stem_type": "patch", "downsample": "patch"}',
            {"block_types": ("C", "C", "W", "G"), "stem_type": "patch", "downsample": "patch"},
        ),
    ],
)
def test_model_kwargs_from_json_override_the_layout(text, want):
    """``--model-kwargs`` JSON (lists) reaches the frozen layout through ``create``."""
    model = hybridnets.create("convvit_n", num_classes=2, **json.loads(text))
    assert {k: getattr(model.cfg, k) for k in want} == want
    assert model.hybridnets_config["kwargs"] == {"num_classes": 2, **json.loads(text)}
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 2)


def test_heads_only_where_attention_is():
    """Conv-only stages need no heads; an attention stage without an entry gets dim // head_dim."""
    model = hybridnets.create("convvit_n", block_types=("W", "W", "W", "G"))
    heads = [stage.blocks[0].attn.num_heads for stage in model.stages]
    assert model.cfg.num_heads == (None, None, 4, 8) and heads == [1, 2, 4, 8]
    assert hybridnets.create("cbamnext_test").cfg.num_heads is None


@pytest.mark.parametrize("name", ["convvit_test", "convswin_test", "cbamnext_test"])
def test_grad_checkpointing_matches(name):
    model = hybridnets.create(name)
    x = _input(model)
    model(x).sum().backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref[n], atol=1e-5, rtol=1e-4)


def test_no_weight_decay_lists_tables():
    model = hybridnets.create("convvit_test")
    names = model.no_weight_decay()
    assert names and all(n.endswith("relative_position_bias_table") for n in names)
    assert names <= dict(model.named_parameters()).keys()


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((1, 3, 32, 32, 32), "rank 4"),
        ((1, 1, 32, 32), "in_chans=3"),
        ((1, 3, 8, 8), "smaller than this network's minimum"),
        ((1, 3, 32), "rank 4"),
    ],
)
def test_errors_name_expected_and_got(shape, message):
    model = hybridnets.create("convvit_test")
    with pytest.raises(ValueError, match=message):
        model(torch.randn(shape))


def test_bad_spatial_dims():
    with pytest.raises(ValueError, match="spatial_dims"):
        hybridnets.create("convvit_test", spatial_dims=4)


@pytest.mark.slow
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_torch_compile_smoke(spatial_dims):
    """Dynamo traces the whole model without a graph break (aot_eager keeps CI fast)."""
    model = hybridnets.create("convvit_test", spatial_dims=spatial_dims).eval()
    x = _input(model)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    ("spatial_dims", "size"), [(2, (50, 70)), (2, (16, 33)), (3, (16, 40, 23)), (3, (30, 17, 64))]
)
def test_any_size_at_or_above_the_minimum(spatial_dims, size):
    """Odd and anisotropic sizes: windows pad or clip, ConvNeXt's patch downsampling floors."""
    model = hybridnets.create(
        "convvit_test",
        spatial_dims=spatial_dims,
        in_chans=1,
        block_types=("C", "C", "W", "G"),
        stem_type="patch",
        downsample="patch",
    ).eval()
    x = torch.randn(1, 1, *size)
    feats = model.forward_intermediates(x, intermediates_only=True)
    for f, info in zip(feats, model.feature_info):
        assert f.shape[2:] == tuple(s // info["reduction"] for s in size)
    assert model(x).shape == (1, 1000)


@pytest.mark.parametrize("name", ["convvit_test", "convvit_n"])
@pytest.mark.parametrize("size", [(29, 31), (27, 29, 31)], ids=["2d", "3d"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_small_data_design_at_odd_sizes_and_batch_1(name, size, train):
    """BatchNorm stem/stages/head: odd sizes round up, batch 1 trains (3D users' regime)."""
    model = hybridnets.create(name, spatial_dims=len(size), in_chans=1, num_classes=2)
    model.train(train)
    x = torch.rand(1, 1, *size)
    feats = model.forward_intermediates(x, intermediates_only=True)
    expected, shape = [], list(size)
    for _ in range(4):
        shape = [-(-s // 2) for s in shape]
        expected.append(tuple(shape))
    assert [tuple(f.shape[2:]) for f in feats] == expected
    y = model(x)
    assert y.shape == (1, 2) and torch.isfinite(y).all()
    if train:
        y.sum().backward()


@pytest.mark.parametrize("name", MODELS)
def test_group_matcher_covers_every_parameter_once(name):
    from timm.models import group_parameters

    model = hybridnets.create(name, num_classes=2)
    groups = group_parameters(model, model.group_matcher(coarse=False))
    names = [n for members in groups.values() for n in members]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())  # once each
    group_of = {n: g for g, members in groups.items() for n in members}
    for i in range(len(model.stages)):
        first_block = f"stages.{i}.blocks.0."
        block_group = {group_of[n] for n in names if n.startswith(first_block)}
        for n in names:
            if n.startswith(f"stages.{i}.downsample."):  # the downsample goes with its stage
                assert {group_of[n]} == block_group, n
    assert group_of["head.fc.weight"] == max(groups)  # the head is the last group
    assert group_of[next(n for n in names if n.startswith("stem."))] == min(groups)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"block_types": ("F", "X", "W", "G")}, "unknown block types"),
        ({"downsample": "pool"}, "downsample must be one of"),
        ({"stem_type": "conv3"}, "stem_type must be"),
        ({"expand_ratios": (1, 4)}, "one value per stage"),
        ({"num_heads": (1, 2)}, "one value per stage"),
        ({"global_pool": "token"}, "global_pool must be one of"),
    ],
)
def test_bad_layouts_say_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        hybridnets.create("convvit_test", **kwargs)


def test_transplant_default_layout_is_the_models_default():
    from hybridnets.models.convvit import ConvViTCfg
    from hybridnets.models.convvit_timm import PARENT_LAYOUT

    assert ConvViTCfg().block_types == PARENT_LAYOUT


def test_convvit_n_keeps_3d_convolutions_channels_last_with_the_same_outputs(tmp_path) -> None:
    """``channels_last_3d`` is memory layout only: the same logits and gradients as the
    contiguous model, weights that save and load, and nothing changed in 2D."""
    torch.manual_seed(0)
    model = hybridnets.create("convvit_n", spatial_dims=3, in_chans=1, num_classes=2)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv3d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    plain = hybridnets.create("convvit_n", spatial_dims=3, in_chans=1, num_classes=2)
    plain.memory_format = torch.contiguous_format
    plain = plain.to(memory_format=torch.contiguous_format)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(2, 1, 28, 28, 28)
    model.train(), plain.train()
    a, b = model(x), plain(x)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    a.sum().backward(), b.sum().backward()
    torch.testing.assert_close(
        conv.weight.grad,
        plain.get_submodule(next(n for n, m in model.named_modules() if m is conv)).weight.grad,
        atol=1e-3,
        rtol=1e-3,
    )
    hybridnets.save_pretrained(model, tmp_path / "m")
    again = hybridnets.create(pretrained=str(tmp_path / "m"))
    torch.testing.assert_close(again.eval()(x), model.eval()(x))
    flat = hybridnets.create("convvit_n", spatial_dims=2, in_chans=1)
    assert flat.memory_format == torch.contiguous_format
