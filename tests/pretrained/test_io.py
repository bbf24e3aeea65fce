"""Reading and writing state dicts: safetensors, weights-only torch files, refusal of pickles."""

from __future__ import annotations

import collections
import re

import pytest
import torch

from hybridnets.pretrained.filecheck import CheckpointFileError
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


def test_pickled_code_refusal_names_the_risk(tmp_path):
    torch.save({"state_dict": _sd(), "extra": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(UnsafeCheckpointError) as info:
        read_state_dict(tmp_path / "evil.pth")
    message = str(info.value)
    assert "runs code from the file" in message and "Only if you trust" in message
    assert "Unsupported global" in message  # torch's reason, without its advice


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", r"it is empty \(0 bytes\)"),
        (
            b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>",
            r"it is an HTML page \(title '404 Not Found'\)",
        ),
        (b'{"error": "Access denied"}', r"it is a text file \(it starts with '\{\"error"),
    ],
    ids=["empty", "html", "text"],
)
@pytest.mark.parametrize("name", ["w.pth", "w.safetensors"])
def test_non_checkpoints_say_what_they_are(tmp_path, content, what, name):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CheckpointFileError, match=rf"{re.escape(str(path))}: {what}") as info:
        read_state_dict(path)
    assert "weights_only" not in str(info.value)


def test_truncated_torch_file_names_the_file(tmp_path):
    torch.save(_sd(), tmp_path / "w.pth")
    data = (tmp_path / "w.pth").read_bytes()
    (tmp_path / "w.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointFileError, match=r"w\.pth: it is a zip archive .* cut short"):
        read_state_dict(tmp_path / "w.pth")


def test_truncated_legacy_torch_file_names_the_file(tmp_path):
    torch.save(_sd(), tmp_path / "w.pth", _use_new_zipfile_serialization=False)
    data = (tmp_path / "w.pth").read_bytes()
    (tmp_path / "w.pth").write_bytes(data[: len(data) - 20])
    with pytest.raises(CheckpointFileError, match=r"w\.pth: torch could not read it"):
        read_state_dict(tmp_path / "w.pth")


@pytest.mark.parametrize(
    ("damage", "what"),
    [
        (lambda data: data[:5], r"fewer than the 8-byte header length"),
        (lambda data: data[: len(data) - 4], r"it is truncated: .* describes 20 bytes"),
        (lambda data: data[:8] + b"[" + data[9:], r"header is not valid JSON"),
        (lambda data: (1 << 40).to_bytes(8, "little") + data[8:], r"announce a \d+-byte header"),
    ],
    ids=["header_too_small", "truncated_data", "bad_json", "huge_header"],
)
def test_damaged_safetensors_name_the_file(tmp_path, damage, what):
    path = tmp_path / "w.safetensors"
    write_state_dict({"a": torch.zeros(5)}, path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointFileError, match=rf"{re.escape(str(path))}: .*{what}"):
        read_state_dict(path)


def test_cached_file_error_says_how_to_clear_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRIDNETS_CACHE", str(tmp_path))
    path = tmp_path / "downloads" / "ab_w.safetensors"
    path.parent.mkdir()
    path.write_bytes(b"\x00" * 4)
    with pytest.raises(CheckpointFileError, match=r"cached download: delete it \(rm '"):
        read_state_dict(path)
