"""Channels-first ↔ channels-last moves, any rank."""

from __future__ import annotations

import io
import warnings

import pytest
import torch

from hybridnets.layers import LayerNormNd, channels_first, channels_last


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
def test_channels_moves_roundtrip(spatial_dims):
    x = torch.randn(2, 5, *range(3, 3 + spatial_dims))
    y = channels_last(x)
    assert y.shape == (2, *range(3, 3 + spatial_dims), 5)
    assert torch.equal(y, x.movedim(1, -1))
    assert torch.equal(channels_first(y), x)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_torchscript_onnx_export_writes_valid_transposes(spatial_dims):
    """``movedim(-1, 1)`` exported with ``dynamo=False`` gave ``Transpose(perm=[0, -1, 1, 2])``."""
    onnx = pytest.importorskip("onnx")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation warning
        torch.onnx.export(
            LayerNormNd(4), (torch.randn(1, 4, *[3] * spatial_dims),), buffer, dynamo=False
        )
    graph = onnx.load_from_string(buffer.getvalue()).graph
    perms = [list(a.ints) for n in graph.node if n.op_type == "Transpose" for a in n.attribute]
    assert perms and all(min(p) >= 0 for p in perms), perms
    onnx.checker.check_model(onnx.load_from_string(buffer.getvalue()), full_check=True)
