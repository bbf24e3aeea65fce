"""Whole models with the Triton backend against the reference backend: output and every
parameter gradient, 2D and 3D, kernels run by Triton's CPU interpreter (natively on CUDA).

Tolerance (FlashAttention's rule, per tensor): the Triton run's error against an fp64 reference
run is at most twice the fp32 reference run's own error plus a small floor relative to the
tensor's magnitude.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

import hybridnets
from hybridnets import ops
from hybridnets.ops.triton_backend import TritonBackend

FLOOR = {torch.float32: 1e-5, torch.float16: 2e-3}


def _run(model: nn.Module, x: Tensor, backend: str) -> dict[str, Tensor]:
    """Output and parameter gradients of ``sum(output · w)`` with ``backend`` forced."""
    model.zero_grad(set_to_none=True)
    with ops.use_backend(backend):
        out = model(x)
    weight = torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=out.device)
    (out.flatten() * weight).sum().backward()
    return {"out": out.detach(), **{n: p.grad for n, p in model.named_parameters()}}


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", ["convvit_test", "convswin_test"])
def test_triton_matches_reference(name, spatial_dims, device, monkeypatch):
    calls = []
    run = TritonBackend.run
    monkeypatch.setattr(TritonBackend, "run", lambda self, r: calls.append(r.op) or run(self, r))
    dtype = torch.float32
    size = 32 if spatial_dims == 2 else 16  # 16³: the smallest 3D input, keeps the interpreter fast
    model = hybridnets.create(name, spatial_dims=spatial_dims, in_chans=1, num_classes=2)
    model = model.eval().to(device, dtype)  # eval: batch-norm statistics fixed, no drop path
    x = torch.randn(1, 1, *(size,) * spatial_dims, device=device, dtype=dtype)

    triton = _run(model, x, "triton")
    assert calls, "the Triton backend never ran"
    low = _run(model, x, "reference")
    high = _run(copy.deepcopy(model).double(), x.double(), "reference")
    for key, want in high.items():
        got, ref = triton[key], low[key]
        assert got.dtype == dtype, key
        magnitude = max(1.0, want.abs().max().item())
        limit = 2 * (ref.double() - want).abs().max().item() + FLOOR[dtype] * magnitude
        err = (got.double() - want).abs().max().item()
        assert err <= limit, f"{name} {spatial_dims}D {key}: error {err:.3g} > {limit:.3g}"
