"""The engine's step, state and options in one process."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import hybridnets
from hybridnets.engine import Engine
from hybridnets.resolve import create_model


def _engine(model, **kwargs) -> Engine:
    return Engine(model, torch.device("cpu"), lr=1e-3, weight_decay=0.05, total_steps=4, **kwargs)


def test_state_dict_round_trip_continues_identically() -> None:
    x, y = torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 0, 1])

    def loss(m):
        return F.cross_entropy(m(x), y)

    torch.manual_seed(0)
    a = _engine(hybridnets.create("convvit_test", in_chans=1, num_classes=2), ema_decay=0.9)
    a.step(loss)
    saved = copy.deepcopy(a.state_dict())  # as read back from disk: no tensors shared with a
    torch.manual_seed(1)  # another init: the state must overwrite everything that matters
    b = _engine(hybridnets.create("convvit_test", in_chans=1, num_classes=2), ema_decay=0.9)
    b.load_state_dict(saved)
    assert a.step(loss) == b.step(loss)
    for (name, p), q in zip(a.eval_state_dict().items(), b.eval_state_dict().values()):
        assert torch.equal(p, q), name


def test_grad_checkpointing_gives_the_same_gradients() -> None:
    x = torch.randn(2, 1, 32, 32)
    losses = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = hybridnets.create("convvit_test", in_chans=1, num_classes=2)
        engine = _engine(model, grad_checkpointing=checkpointing)
        losses.append(engine.step(lambda m: m(x).square().mean()))
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_grad_checkpointing_needs_the_model_to_support_it() -> None:
    model = create_model("monai_resnet10", spatial_dims=2, in_chans=1, widen_factor=0.25)
    with pytest.raises(ValueError, match=r"no set_grad_checkpointing.*`grad_checkpointing=False`"):
        _engine(model, grad_checkpointing=True)


def test_fsdp_refuses_ema_with_the_fix() -> None:
    from hybridnets.engine import Runtime

    runtime = Runtime(torch.device("cpu"), rank=0, world_size=2)
    model = hybridnets.create("convvit_test", in_chans=1, num_classes=2)
    with pytest.raises(ValueError, match="`ema_decay=None`"):
        Engine(model, runtime, lr=1e-3, weight_decay=0.0, total_steps=1, fsdp=True, ema_decay=0.9)


def test_no_weight_decay_of_prefixes_a_child_and_tolerates_none() -> None:
    from torch import nn

    from hybridnets.models.delegate import no_weight_decay_of

    class WithTokens(nn.Module):
        def no_weight_decay(self) -> set[str]:
            return {"pos_embed", "blocks.0.rel_pos"}

    assert no_weight_decay_of(WithTokens(), "encoder") == {
        "encoder.pos_embed",
        "encoder.blocks.0.rel_pos",
    }
    assert no_weight_decay_of(nn.Linear(2, 2), "head") == set()
