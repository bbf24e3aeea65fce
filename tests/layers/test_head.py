import pytest
import torch

import hybridnets
from hybridnets.layers import BatchNormNd, PooledHead


@pytest.mark.parametrize("norm", ["layer", "batch"])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_shapes_pre_logits_and_reset(norm, spatial_dims):
    head = PooledHead(8, 3, norm=norm)
    x = torch.randn(4, 8, *(3,) * spatial_dims)
    assert head(x).shape == (4, 3)
    assert head(x, pre_logits=True).shape == (4, 8)
    head.reset(5)
    assert head(x).shape == (4, 5)
    head.reset(0)
    assert head(x).shape == (4, 8)


def test_batch_norm_head_removes_what_samples_share():
    """Pooled features = a large shared background vector + a small per-sample signal."""
    torch.manual_seed(0)
    shared = torch.randn(16) * 10
    signal = torch.randn(32, 16) * 0.05
    x = (shared + signal)[:, :, None, None]  # (B, C, 1, 1)
    layer = PooledHead(16, 2, norm="layer")(x, pre_logits=True)
    batch = PooledHead(16, 2, norm="batch")(x, pre_logits=True)  # train mode: batch statistics
    spread = lambda f: (f - f.mean(0)).std() / f.abs().mean()  # noqa: E731
    assert spread(layer) < 0.05  # every sample looks alike after a LayerNorm
    assert spread(batch) > 0.9  # the batch norm keeps only what differs
    torch.testing.assert_close(batch.mean(0), torch.zeros(16), atol=1e-4, rtol=0)


def test_unknown_norm():
    with pytest.raises(ValueError, match="head norm must be one of"):
        PooledHead(8, 2, norm="group")


def test_models_take_head_norm():
    assert isinstance(hybridnets.create("convvit_n", num_classes=2).head.norm, BatchNormNd)
    model = hybridnets.create("convvit_test", spatial_dims=3, in_chans=1, head_norm="layer")
    assert isinstance(model.head.norm, torch.nn.LayerNorm)
    model = hybridnets.create("cbamnext_test", spatial_dims=3, in_chans=1, head_norm="batch")
    assert isinstance(model.head.norm, BatchNormNd)
    model(torch.randn(2, 1, 32, 32, 32)).sum().backward()
    assert model.eval()(torch.randn(1, 1, 32, 32, 32)).shape == (1, 1000)


def test_batch_norm_head_trains_at_batch_1():
    head = PooledHead(16, 2, norm="batch").train()
    head(torch.randn(1, 16, 3, 3, 3)).sum().backward()  # nn.BatchNorm1d would raise here
    assert head.fc.weight.grad is not None


@pytest.mark.parametrize("norm", ["layer", "batch"])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_pool_types_and_unpooled_head(norm, spatial_dims):
    """timm's ``global_pool``: avg / max / avgmax pool; ``""`` keeps the map and classifies each
    position as the pooled head classifies a vector."""
    head = PooledHead(8, 3, norm=norm).eval()
    with torch.no_grad():
        head.norm.weight.normal_()
        if norm == "batch":
            head.norm.running_mean.normal_()
    x = torch.randn(2, 8, *(3,) * spatial_dims)
    dims = tuple(range(2, x.ndim))
    pooled = {"avg": x.mean(dims), "max": x.amax(dims), "avgmax": (x.mean(dims) + x.amax(dims)) / 2}
    with torch.no_grad():
        for pool_type, want in pooled.items():
            head.reset(3, pool_type)
            torch.testing.assert_close(head(x, pre_logits=True), head.norm(want))
        fc = head.fc
        head.reset(0, "")
        assert head(x).shape == x.shape
        head.fc = fc
        out = head(x)  # (B, 3, *S)
        corner = x[(..., *[0] * spatial_dims)]  # (B, 8): one position
        torch.testing.assert_close(out[(..., *[0] * spatial_dims)], fc(head.norm(corner)))
    with pytest.raises(ValueError, match="global_pool must be one of"):
        head.reset(3, "token")
