"""Masked image modelling: it learns, only masked patches count, masked content never leaks."""

from __future__ import annotations

import pytest
import torch

import hybridnets
from hybridnets.pretrain import MaskedImageModel, default_mask_patch
from hybridnets.pretrain.masking import random_visible, visible_at

STYLES = ["token", "dense"]


def _mim(spatial_dims: int, style: str, **kwargs) -> MaskedImageModel:
    encoder = hybridnets.create(
        "convvit_test", spatial_dims=spatial_dims, in_chans=1, num_classes=0
    )
    return MaskedImageModel(encoder, mask_patch=4, style=style, decoder_dim=32, **kwargs)


def test_default_mask_patch_leaves_at_least_7_patches_per_side() -> None:
    assert default_mask_patch(2, 28) == 4
    assert default_mask_patch(2, 64) == 8
    assert default_mask_patch(4, 224) == 32
    assert default_mask_patch(4, 16) == 4  # never below the stem's stride


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("style", STYLES)
def test_reconstruction_loss_falls_in_a_few_steps(spatial_dims, style) -> None:
    torch.set_num_threads(1)
    size = 16
    grid = torch.stack(torch.meshgrid(*[torch.linspace(-1, 1, size)] * spatial_dims, indexing="ij"))
    # smooth blobs: predictable from context
    centres = torch.rand(8, spatial_dims, *([1] * spatial_dims)) - 0.5
    x = (-((grid[None] - centres) ** 2).sum(1, keepdim=True) * 4).exp()  # (8, 1, *S)
    mim = _mim(spatial_dims, style)
    opt = torch.optim.AdamW(mim.parameters(), lr=3e-3)
    visible = random_visible(8, mim.grid(x), 0.5, torch.Generator().manual_seed(0))
    losses = []
    for _ in range(25):
        loss = mim(x, visible)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_only_masked_patches_count(spatial_dims) -> None:
    mim = _mim(spatial_dims, "token", norm_pix_loss=False).eval()
    size = 16
    x = torch.randn(2, 1, *([size] * spatial_dims))
    visible = random_visible(2, mim.grid(x), 0.5, torch.Generator().manual_seed(1))
    v_px = visible_at(visible, x.shape[2:], x.shape[2:])  # (2, 1, *S), 1 = visible
    noise = 5.0 * torch.randn_like(x)
    with torch.no_grad():
        loss = mim(x, visible, target=x)
        visible_changed = mim(x, visible, target=x + noise * v_px)
        masked_changed = mim(x, visible, target=x + noise * (1 - v_px))
    assert visible_changed.item() == pytest.approx(loss.item(), rel=1e-6)
    assert masked_changed.item() != pytest.approx(loss.item(), rel=1e-2)  # the test can fail


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("style", STYLES)
def test_masked_patch_content_does_not_leak_into_the_encoder(spatial_dims, style) -> None:
    mim = _mim(spatial_dims, style).eval()
    size = 16
    x = torch.randn(1, 1, *([size] * spatial_dims))
    visible = torch.ones(1, *mim.grid(x), dtype=torch.bool)
    visible[(0, *([1] * spatial_dims))] = False  # hide patch (1, 1[, 1]): pixels 4..8
    y = x.clone()
    y[(0, 0, *([slice(4, 8)] * spatial_dims))] += 3.0 * torch.randn(*([4] * spatial_dims))
    with torch.no_grad():
        for a, b in zip(mim.encode(x, visible), mim.encode(y, visible)):
            assert torch.equal(a, b)  # every stage's whole map, the masked patch included
        assert torch.equal(mim.predict(x, visible), mim.predict(y, visible))
        # and the check can fail: the same change at a visible patch changes the output
        z = x.clone()
        z[(0, 0, *([slice(0, 4)] * spatial_dims))] += 3.0
        assert not torch.equal(mim.encode(x, visible)[0], mim.encode(z, visible)[0])


def test_dense_style_keeps_masked_positions_empty_after_every_stage() -> None:
    mim = _mim(2, "dense").eval()
    x = torch.randn(2, 1, 32, 32)
    visible = random_visible(2, mim.grid(x), 0.6, torch.Generator().manual_seed(0))
    maps = mim.encode(x, visible)
    first = maps[0]  # stage 0 at stride 2: each cell inside one 4 px patch
    hidden = ~visible.repeat_interleave(2, 1).repeat_interleave(2, 2)  # (2, 16, 16)
    assert first.permute(0, 2, 3, 1)[hidden].abs().max() == 0
    assert first.permute(0, 2, 3, 1)[~hidden].abs().max() > 0
    # the hooks only act inside encode(): outside it the encoder computes what a plain one does
    plain = hybridnets.create("convvit_test", spatial_dims=2, in_chans=1, num_classes=0).eval()
    plain.load_state_dict(mim.encoder.state_dict())
    with torch.no_grad():
        assert torch.equal(mim.encoder.forward_features(x), plain.forward_features(x))


def test_refuses_non_hybridnets_backbones_and_bad_sizes() -> None:
    with pytest.raises(TypeError, match="needs a hybridnets backbone"):
        MaskedImageModel(torch.nn.Linear(2, 2))
    mim = _mim(2, "token")
    with pytest.raises(ValueError, match=r"not a multiple of the mask patch 4.*`input_size`"):
        mim(torch.randn(2, 1, 18, 18))
    with pytest.raises(ValueError, match="mask style must be one of"):
        _mim(2, "sparse")
