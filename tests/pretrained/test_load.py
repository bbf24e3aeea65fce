"""load_pretrained: every source kind, reports, strictness, clear errors."""

from __future__ import annotations

import hashlib

import pytest
import torch

import hybridnets
from hybridnets.pretrained import (
    ChecksumError,
    DownloadError,
    LoadReport,
    OfflineError,
    PretrainedCfg,
    PretrainedLoadError,
    load_pretrained,
    register_pretrained,
    write_state_dict,
)
from hybridnets.pretrained.registry import unregister_pretrained


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def weights_file(saved_test_model, tmp_path):
    path = tmp_path / "w.safetensors"
    write_state_dict(saved_test_model.model.state_dict(), path)
    return path


def test_safetensors_file_with_sha256(saved_test_model, weights_file):
    sha = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    model = hybridnets.create("convvit_test", num_classes=5)
    report = load_pretrained(model, weights_file, sha256=sha)
    assert report.ok and len(report.loaded) == len(model.state_dict())
    assert _same_weights(model, saved_test_model.model)
    assert model.pretrained_cfg["source"] == str(weights_file)
    with pytest.raises(ChecksumError, match=f"expected {'f' * 64}, got {sha}"):
        load_pretrained(model, weights_file, sha256="f" * 64)


def test_torch_file(saved_test_model, tmp_path):
    torch.save({"state_dict": saved_test_model.model.state_dict()}, tmp_path / "w.pth")
    model = hybridnets.create("convvit_test", pretrained=tmp_path / "w.pth", num_classes=5)
    assert _same_weights(model, saved_test_model.model)


def test_url_source_downloads_into_cache(saved_test_model, weights_file, cache, server):
    server.files["/w.safetensors"] = weights_file.read_bytes()
    sha = hashlib.sha256(server.files["/w.safetensors"]).hexdigest()
    model = hybridnets.create("convvit_test", num_classes=5)
    load_pretrained(model, server.url("/w.safetensors"), sha256=sha)
    assert _same_weights(model, saved_test_model.model)
    assert any(cache.rglob("*_w.safetensors"))


def test_registered_tag_true_and_bare_tag(saved_test_model, weights_file, cache, server):
    server.files["/t.safetensors"] = weights_file.read_bytes()
    cfg = PretrainedCfg(
        source=server.url("/t.safetensors"),
        sha256=hashlib.sha256(server.files["/t.safetensors"]).hexdigest(),
        num_classes=5,
        input_size=(3, 32, 32),
        licence="CC-BY-4.0",
    )
    register_pretrained("convvit_test", "unit", cfg)
    try:
        assert "convvit_test.unit" in hybridnets.pretrained.list_pretrained("convvit_test.*")
        for pretrained in (True, "unit", "convvit_test.unit"):
            model = hybridnets.create("convvit_test", pretrained=pretrained, num_classes=5)
            assert _same_weights(model, saved_test_model.model)
            assert model.pretrained_cfg["tag"] == "convvit_test.unit"
            assert model.pretrained_cfg["license"] == "CC-BY-4.0"
        assert server.requests == ["/t.safetensors"]
    finally:
        unregister_pretrained("convvit_test.unit")


def test_hf_hub_source(saved_test_model, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    calls = []

    def fake_download(repo_id, filename, revision=None, local_files_only=False):
        calls.append((repo_id, filename, revision))
        return str(saved_test_model.folder / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    model = hybridnets.create("convvit_test", pretrained="hf-hub:org/repo@v1", num_classes=5)
    assert _same_weights(model, saved_test_model.model)
    assert ("org/repo", "model.safetensors", "v1") in calls


def test_report_is_readable():
    report = LoadReport(
        source="x",
        loaded=["a"],
        adapted={"head.fc.weight": "classifier re-initialised"},
        missing=[f"m{i}" for i in range(12)],
        mismatched={"b": ((1, 2), (3, 4))},
    )
    text = str(report)
    assert text.startswith("weights from x: 1 loaded, 1 adapted, 12 missing, 0 unexpected")
    assert "b: (1, 2) vs (3, 4)" in text and "... and 4 more" in text and not report.ok


def test_mismatched_checkpoint_raises_with_report(saved_test_model):
    model = hybridnets.create("convvit_n")
    with pytest.raises(PretrainedLoadError) as info:
        load_pretrained(model, saved_test_model.folder)
    message = str(info.value)
    assert "strict=False" in message and "shape-mismatched" in message
    assert "saved from 'convvit_test', the model is 'convvit_n'" in message
    assert info.value.report.mismatched["stem.1.0.weight"] == ((16, 16, 3, 3), (32, 16, 3, 3))


def test_non_strict_loads_what_fits(saved_test_model, tmp_path):
    state_dict = saved_test_model.model.state_dict()
    del state_dict["stem.1.0.weight"]
    state_dict["extra.weight"] = torch.zeros(1)
    state_dict["stages.0.blocks.0.conv_exp.1.weight"] = torch.zeros(7)
    model = hybridnets.create("convvit_test", num_classes=5)
    before = model.state_dict()["stem.1.0.weight"].clone()
    write_state_dict(state_dict, tmp_path / "partial.safetensors")
    with pytest.raises(PretrainedLoadError):
        load_pretrained(model, tmp_path / "partial.safetensors")
    report = load_pretrained(model, tmp_path / "partial.safetensors", strict=False)
    assert report.missing == ["stem.1.0.weight"] and report.unexpected == ["extra.weight"]
    assert list(report.mismatched) == ["stages.0.blocks.0.conv_exp.1.weight"]
    assert torch.equal(model.state_dict()["stem.1.0.weight"], before)
    assert torch.equal(model.stem[0][0].weight, saved_test_model.model.stem[0][0].weight)


def test_unknown_sources_explain_themselves(tmp_path):
    model = hybridnets.create("convvit_test")
    with pytest.raises(
        ValueError, match=r"not an existing file or folder.*tags for 'convvit_test'"
    ):
        load_pretrained(model, "in1k_timmm")
    with pytest.raises(
        ValueError, match=r"no pretrained weights are registered for 'convvit_test'"
    ):
        load_pretrained(model, True)
    with pytest.raises(FileNotFoundError, match=r"holds none of model.safetensors"):
        load_pretrained(model, tmp_path)
    with pytest.raises(ValueError, match=r"create_model needs a model name"):
        hybridnets.create(pretrained=True)


def test_timm_source_needs_a_conversion():
    model = hybridnets.create("convvit_test")
    assert model.pretrained_filter_fn is not None  # create() attaches the family's filter
    model.pretrained_filter_fn = None
    with pytest.raises(ValueError, match="declares no conversion of timm checkpoints"):
        load_pretrained(model, "timm:convnext_tiny.fb_in1k")


def _unreachable_hub(monkeypatch, calls: list) -> None:
    """hf_hub_download as without network: nothing cached, the Hub not reachable."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub.errors import LocalEntryNotFoundError

    def fake_download(repo_id, filename, revision=None, local_files_only=False):
        calls.append((filename, local_files_only))
        raise LocalEntryNotFoundError("cannot find the requested files in the local cache")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "HYBRIDNETS_OFFLINE"])
def test_hf_hub_offline_fails_at_once_with_the_cause(monkeypatch, variable):
    calls = []
    _unreachable_hub(monkeypatch, calls)
    monkeypatch.setenv(variable, "1")
    with pytest.raises(OfflineError, match=rf"{variable} is set and model.safetensors of hf-hub:"):
        hybridnets.create("convvit_test", pretrained="hf-hub:org/repo")
    assert calls == [("model.safetensors", True)]  # cache only, one file, no retries


def test_hf_hub_unreachable_says_so(monkeypatch):
    calls = []
    _unreachable_hub(monkeypatch, calls)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HYBRIDNETS_OFFLINE", raising=False)
    with pytest.raises(DownloadError, match=r"could not reach the Hugging Face Hub") as info:
        hybridnets.create("convvit_test", pretrained="hf-hub:org/repo")
    assert "has neither" not in str(info.value) and len(calls) == 1


def test_hf_hub_offline_with_the_real_library(monkeypatch):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"HF_HUB_OFFLINE is set"):
        hybridnets.create("convvit_test", pretrained="hf-hub:hybridnets-tests/absent-repo")


def test_create_takes_sha256_for_url_and_file(saved_test_model, weights_file, cache, server):
    server.files["/w.safetensors"] = weights_file.read_bytes()
    sha = hashlib.sha256(server.files["/w.safetensors"]).hexdigest()
    for source in (server.url("/w.safetensors"), weights_file, saved_test_model.folder):
        if source == saved_test_model.folder:
            sha = hashlib.sha256((source / "model.safetensors").read_bytes()).hexdigest()
        model = hybridnets.create("convvit_test", pretrained=source, sha256=sha, num_classes=5)
        assert _same_weights(model, saved_test_model.model)
        with pytest.raises(ChecksumError, match=f"expected {'0' * 64}, got {sha}"):
            hybridnets.create("convvit_test", pretrained=source, sha256="0" * 64, num_classes=5)
    assert "sha256" not in model.hybridnets_config["kwargs"]  # not a constructor argument
    with pytest.raises(ValueError, match=r"sha256=.*loads none"):
        hybridnets.create("convvit_test", sha256=sha)


def test_cut_download_is_not_cached_and_create_names_it(
    saved_test_model, weights_file, cache, server
):
    url = server.url("/nolength/w.safetensors")
    server.files["/nolength/w.safetensors"] = weights_file.read_bytes()
    with pytest.raises(DownloadError, match=r"did not give a usable file: it is truncated"):
        hybridnets.create("convvit_test", pretrained=url, num_classes=5)
    assert not [p for p in cache.rglob("*") if p.name.endswith("w.safetensors")]
