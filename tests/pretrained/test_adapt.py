"""Adaptations with their exact-equivalence checks: channels, 2D → 3D, window size, head."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import hybridnets
from hybridnets.pretrained import (
    adapt_input_channels,
    adapt_rel_pos_table,
    adapt_state_dict,
    inflate_conv,
    load_pretrained,
    resample_rel_pos_table,
)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_grey_model_equals_rgb_model_on_repeated_image(saved_test_model, spatial_dims):
    rgb = hybridnets.create(pretrained=saved_test_model.folder, spatial_dims=spatial_dims).eval()
    grey = hybridnets.create(
        pretrained=saved_test_model.folder, spatial_dims=spatial_dims, in_chans=1
    ).eval()
    x = torch.randn(2, 1, *(32,) * spatial_dims)
    with torch.no_grad():
        torch.testing.assert_close(grey(x), rgb(x.expand(-1, 3, *x.shape[2:])))
    assert grey.pretrained_cfg["mean"] == (pytest.approx(sum((0.485, 0.456, 0.406)) / 3),)


def test_more_channels_repeat_and_rescale(saved_test_model):
    six = hybridnets.create(pretrained=saved_test_model.folder, in_chans=6).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(six(x.repeat(1, 2, 1, 1)), saved_test_model.model(x))


def test_adapt_input_channels_values():
    w = torch.randn(4, 3, 2, 2)
    torch.testing.assert_close(adapt_input_channels(w, 1), w.sum(1, keepdim=True))
    torch.testing.assert_close(adapt_input_channels(w, 4)[:, 3], w[:, 0] * 3 / 4)
    assert adapt_input_channels(w, 3) is w


@pytest.mark.parametrize("depth", [16, 40])  # 40: stage-3 windows padded and shifted in depth too
def test_center_inflation_reproduces_2d_model_on_depth_constant_volume(saved_test_model, depth):
    model_2d = saved_test_model.model
    model_3d = hybridnets.create(pretrained=saved_test_model.folder, spatial_dims=3).eval()
    # 40 x 40: the window stage (window 3) sees 5 x 5, so it pads to 6 and shifts by 1.
    x = torch.randn(2, 3, 40, 40)
    volume = x.unsqueeze(2).expand(-1, -1, depth, -1, -1)  # one image repeated along depth
    with torch.no_grad():
        torch.testing.assert_close(model_3d(volume), model_2d(x), rtol=1e-5, atol=1e-6)
        feats_2d = model_2d.forward_intermediates(x, intermediates_only=True)
        feats_3d = model_3d.forward_intermediates(volume, intermediates_only=True)
    for f2, f3 in zip(feats_2d, feats_3d):  # every stage, every depth slice
        torch.testing.assert_close(f3, f2.unsqueeze(2).expand_as(f3), rtol=1e-5, atol=1e-5)


def test_mean_inflation_is_i3d_and_exact_away_from_padding():
    conv2d = nn.Conv2d(4, 5, 3, padding=1)
    w3 = inflate_conv(conv2d.weight.detach(), 3, "mean")
    torch.testing.assert_close(w3.sum(2), conv2d.weight.detach())
    x = torch.randn(1, 4, 8, 8)
    volume = x.unsqueeze(2).expand(-1, -1, 6, -1, -1)
    out = F.conv3d(volume, w3, conv2d.bias, padding=1)
    torch.testing.assert_close(out[:, :, 1:-1], conv2d(x).unsqueeze(2).expand(-1, -1, 4, -1, -1))


def test_inflation_modes_reported_and_validated(saved_test_model):
    model = hybridnets.create("convvit_test", num_classes=5, spatial_dims=3)
    report = load_pretrained(model, saved_test_model.folder, inflate="mean")
    assert report.adapted["stem.0.0.weight"] == "inflated 2D → 3D (mean)"
    assert (
        "(5, 5) → (5, 5, 5)"
        in report.adapted["stages.2.blocks.0.attn.rpb.relative_position_bias_table"]
    )
    with pytest.raises(ValueError, match=r"'center' or 'mean'"):
        inflate_conv(torch.randn(1, 1, 3, 3), 3, "edge")


def test_rel_pos_table_inflation_replicates_along_depth():
    table = torch.randn(25, 2)  # (5 x 5, heads)
    out = adapt_rel_pos_table(table, (5, 5), (3, 5, 5)).view(3, 5, 5, 2)
    for d in range(3):
        torch.testing.assert_close(out[d], table.view(5, 5, 2))


def test_rel_pos_table_resampling_for_new_window(saved_test_model):
    table = torch.randn(25, 2)
    assert resample_rel_pos_table(table, (5, 5), (5, 5)) is table
    const = torch.full((25, 2), 0.7)
    torch.testing.assert_close(
        resample_rel_pos_table(const, (5, 5), (9, 9)), torch.full((81, 2), 0.7)
    )
    model = hybridnets.create(pretrained=saved_test_model.folder, window_size=5)  # table 5² → 9²
    key = "stages.2.blocks.1.attn.rpb.relative_position_bias_table"
    assert model.state_dict()[key].shape == (81, 2)
    x = torch.randn(1, 3, 80, 80)
    assert torch.isfinite(model(x)).all()


def test_new_head_is_reinitialised_and_the_rest_loaded(saved_test_model):
    model = hybridnets.create("convvit_test", num_classes=2)
    report = load_pretrained(model, saved_test_model.folder)
    assert report.ok and set(report.adapted) == {"head.fc.weight", "head.fc.bias"}
    assert "classifier re-initialised" in report.adapted["head.fc.weight"]
    theirs, ours = saved_test_model.model.state_dict(), model.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in report.loaded)
    headless = hybridnets.create("convvit_test", num_classes=0)
    report = load_pretrained(headless, saved_test_model.folder)
    assert report.ok and report.adapted["head.fc.weight"] == "dropped: the model has no classifier"


class _Tiny(nn.Module):
    """A conv + linear model with timm's key conventions, not a hybridnets model."""

    def __init__(self, in_chans: int = 3, num_classes: int = 10, spatial_dims: int = 2) -> None:
        super().__init__()
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.spatial_dims, self.in_chans = spatial_dims, in_chans
        self.stem = nn.Sequential(conv(in_chans, 8, 3, padding=1))
        self.head = nn.Sequential()
        self.head.fc = nn.Linear(8, num_classes)
        self.pretrained_cfg = {"first_conv": "stem.0", "classifier": "head.fc"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head.fc(self.stem(x).mean(tuple(range(2, x.ndim))))


def test_adapt_state_dict_on_any_module_with_timm_keys():
    source = _Tiny()
    target = _Tiny(in_chans=1, num_classes=4, spatial_dims=3)
    state_dict, adapted = adapt_state_dict(source.state_dict(), target)
    assert adapted["stem.0.weight"] == "input channels 3 → 1; inflated 2D → 3D (center)"
    assert set(adapted) == {"stem.0.weight", "head.fc.weight", "head.fc.bias"}
    target.load_state_dict(state_dict, strict=False)
    x = torch.randn(2, 1, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(
            target.stem(x.unsqueeze(2).expand(-1, -1, 4, -1, -1))[:, :, 0],
            source.stem(x.expand(-1, 3, -1, -1)),
        )
