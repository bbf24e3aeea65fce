"""Contrastive pretraining: the two views of an image are learned to match, 2D and 3D."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import hybridnets
from hybridnets.multimodal.loss import clip_loss
from hybridnets.pretrain import ContrastiveModel, ContrastiveViews


def _patterns(n: int, spatial_dims: int, size: int, seed: int = 0) -> torch.Tensor:
    """``n`` distinct smooth random images (a 4-per-side random grid upsampled), standardised."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, *[4] * spatial_dims, generator=g)
    mode = "bilinear" if spatial_dims == 2 else "trilinear"
    x = F.interpolate(x, size=[size] * spatial_dims, mode=mode, align_corners=False)
    return (x - x.mean()) / x.std()


def _model(spatial_dims: int) -> ContrastiveModel:
    encoder = hybridnets.create(
        "convvit_test", spatial_dims=spatial_dims, in_chans=1, num_classes=0
    )
    return ContrastiveModel(encoder, proj_dim=32, hidden_dim=64, temperature=0.2)


@pytest.mark.parametrize(("spatial_dims", "steps", "top1_min"), [(2, 40, 0.9), (3, 80, 0.4)])
def test_views_of_an_image_are_learned_to_find_each_other(spatial_dims, steps, top1_min) -> None:
    """Trained on fresh views every step, new views of each of 16 images retrieve their
    partner among the 16 (chance: 1/16; 3D learns slower within a test's budget)."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    n = 16
    x = _patterns(n, spatial_dims, 16)
    model = _model(spatial_dims)
    views = ContrastiveViews(spatial_dims, zoom=(0.9, 1.1), degrees=10, translate=0.05, noise=0.05)
    g = torch.Generator().manual_seed(0)

    def top1() -> float:
        model.eval()
        with torch.no_grad():
            a, b = views(x, g)
            sim = model.embed(a) @ model.embed(b).T
        model.train()
        return (sim.argmax(1) == torch.arange(n)).float().mean().item()

    before = top1()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = model(*views(x, g))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    after = top1()
    assert sum(losses[-5:]) / 5 < 0.75 * sum(losses[:5]) / 5, losses
    assert after >= top1_min and after > before, (before, after)


def test_loss_is_symmetric_infonce_of_the_projections() -> None:
    model = _model(2).eval()
    a, b = torch.randn(6, 1, 16, 16), torch.randn(6, 1, 16, 16)
    z = model.embed(torch.cat([a, b]))
    expected = clip_loss(z[:6], z[6:], 5.0)
    torch.testing.assert_close(model(a, b), expected)
    torch.testing.assert_close(model(b, a), expected)  # symmetric in the views


def test_views_keep_the_shape_differ_and_repeat_with_the_seed() -> None:
    x = _patterns(4, 3, 12)
    views = ContrastiveViews(3)
    a, b = views(x, torch.Generator().manual_seed(1))
    assert a.shape == b.shape == x.shape
    assert not torch.allclose(a, b) and not torch.allclose(a, x)
    a2, _ = views(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, a2)


def test_bad_arguments_are_named() -> None:
    encoder = hybridnets.create("convvit_test", in_chans=1, num_classes=0)
    with pytest.raises(ValueError, match="temperature must be positive"):
        ContrastiveModel(encoder, temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        ContrastiveModel(encoder)(torch.randn(2, 1, 16, 16), torch.randn(2, 1, 12, 12))
    with pytest.raises(TypeError, match="num_features"):
        ContrastiveModel(torch.nn.Identity())
