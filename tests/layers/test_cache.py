"""Size-keyed tensors cached as non-persistent buffers."""

from __future__ import annotations

import copy

import torch
from torch import nn

from hybridnets.layers.cache import cached_buffer


class _Grid(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.builds = 0

    def grid(self, n: int) -> torch.Tensor:
        def build() -> torch.Tensor:
            self.builds += 1
            return torch.arange(n)

        return cached_buffer(self, "grid_cache", n, build)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.grid(x.shape[-1]) + self.weight


def test_reused_per_key_rebuilt_for_a_new_one_never_saved():
    m = _Grid()
    first = m.grid(3)
    assert m.grid(3) is first and m.builds == 1
    assert torch.equal(m.grid(4), torch.arange(4)) and m.builds == 2
    assert list(m.state_dict()) == ["weight"] and "grid_cache" in dict(m.named_buffers())
    twin = copy.deepcopy(m)  # a copy keeps its own entry
    twin.grid(5)
    assert m.grid(4).shape == (4,) and m.builds == 2


def test_tracing_builds_but_does_not_store():
    m = _Grid()
    traced = torch.jit.trace(m, torch.zeros(2, 3), check_trace=False)
    assert "grid_cache" not in dict(m.named_buffers())
    torch.testing.assert_close(traced(torch.ones(2, 3)), torch.ones(2, 3) + torch.arange(3))


def test_built_under_inference_mode_is_rebuilt_for_training():
    import hybridnets

    model = hybridnets.create("convvit_test", spatial_dims=3, in_chans=1, num_classes=2)
    x = torch.randn(2, 1, 32, 32, 32)
    with torch.inference_mode():  # a latency benchmark's infer pass, then its train pass
        model.eval()(x)
    model.train()(x).sum().backward()  # raised "Inference tensors cannot be saved for backward"
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    m = _Grid()
    with torch.inference_mode():
        m.grid(4)
    assert not m.grid(4).is_inference() and m.builds == 2
