"""Reading and writing state dicts: safetensors, weights-only torch files, refusal of pickles."""

from __future__ import annotations

import collections

import pytest
import torch

from hybridnets.pretrained.io import UnsafeCheckpointError, read_state_dict, write_state_dict


def _sd() -> dict[str, torch.Tensor]:
    return {"a.weight": torch.randn(3, 2), "a.bias": torch.randn(3)}


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_safetensors_round_trip_with_tied_and_strided_tensors(tmp_path):
    w = torch.randn(4, 4)
    sd = {"x": w, "tied": w, "strided": w.t()}
    write_state_dict(sd, tmp_path / "m.safetensors")
    back = read_state_dict(tmp_path / "m.safetensors")
    assert _equal(back, {k: v.contiguous() for k, v in sd.items()})
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


@pytest.mark.parametrize("wrap", ["none", "state_dict", "model", "module_prefix"])
def test_torch_file_loaded_weights_only_and_unwrapped(tmp_path, wrap):
    sd = _sd()
    obj = {
        "none": sd,
        "state_dict": {"state_dict": sd, "epoch": 3},
        "model": {"model": sd, "optimizer": {"lr": 0.1}},
        "module_prefix": collections.OrderedDict((f"module.{k}", v) for k, v in sd.items()),
    }[wrap]
    torch.save(obj, tmp_path / "m.pth")
    assert _equal(read_state_dict(tmp_path / "m.pth"), sd)


class _Payload:
    """Unpickling this runs code; a weights-only load must refuse it."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_is_refused_with_explanation(tmp_path):
    torch.save({"state_dict": _sd(), "extra": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(UnsafeCheckpointError, match=r"weights_only=True.*safetensors"):
        read_state_dict(tmp_path / "evil.pth")


def test_file_without_state_dict_is_rejected(tmp_path):
    torch.save({"epoch": 3}, tmp_path / "x.pth")
    with pytest.raises(ValueError, match=r"does not hold a state dict"):
        read_state_dict(tmp_path / "x.pth")
