"""timm → hybrid transplants (the families' checkpoint filter), checked against randomly
initialised timm parents."""

from __future__ import annotations

import hashlib

import pytest
import timm
import torch

import hybridnets
from hybridnets.models.convvit import checkpoint_filter_fn, convvit_from_timm
from hybridnets.pretrained import ChecksumError, load_pretrained, write_state_dict
from hybridnets.pretrained.sources import timm_hub_url


@pytest.fixture(scope="module")
def transplanted(timm_parents, tmp_path_factory):
    """convvit_t loaded from the transplant of the random timm parents."""
    state_dict = convvit_from_timm(
        timm_parents.convnext.state_dict(), timm_parents.swin.state_dict()
    )
    path = tmp_path_factory.mktemp("transplant") / "convvit_t.safetensors"
    write_state_dict(state_dict, path)
    model = hybridnets.create("convvit_t").eval()
    report = load_pretrained(model, path)
    assert report.ok and len(report.loaded) == len(model.state_dict())
    return model


def test_conv_stages_reproduce_convnext(transplanted, timm_parents):
    convnext = timm_parents.convnext
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = convnext.stages[1](convnext.stages[0](convnext.stem(x)))
        got = transplanted.stages[1](transplanted.stages[0](transplanted.stem(x)))
        torch.testing.assert_close(got, expected)
        # the downsamples feeding the attention stages are ConvNeXt's too
        for i in (2, 3):
            h = torch.randn(1, transplanted.cfg.dims[i - 1], 8, 8)
            torch.testing.assert_close(
                transplanted.stages[i].downsample(h), convnext.stages[i].downsample(h)
            )


@pytest.mark.parametrize("block", [0, 1], ids=["no_shift", "shift"])
def test_window_blocks_reproduce_swin(transplanted, timm_parents, block):
    swin_block = timm_parents.swin.layers[2].blocks[block]
    assert swin_block.shift_size == ((0, 0) if block == 0 else (3, 3))
    x = torch.randn(2, 14, 14, 384)  # channels-last 14 x 14 map, Swin-T stage 3
    with torch.no_grad():
        torch.testing.assert_close(transplanted.stages[2].blocks[block](x), swin_block(x))


def test_global_block_reproduces_swin_last_stage(transplanted, timm_parents):
    x = torch.randn(2, 7, 7, 768)  # Swin-T stage 4: one 7 x 7 window = global attention
    with torch.no_grad():
        torch.testing.assert_close(
            transplanted.stages[3].blocks[1](x), timm_parents.swin.layers[3].blocks[1](x)
        )


def test_head_comes_from_swin(transplanted, timm_parents):
    assert torch.equal(transplanted.head.fc.weight, timm_parents.swin.head.fc.weight)
    assert torch.equal(transplanted.head.norm.weight, timm_parents.swin.norm.weight)


def test_tag_downloads_parents_and_adapts(
    timm_parents, transplanted, cache, server, monkeypatch, fast_init
):
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    for name, path in (
        ("convnext_tiny.fb_in1k", timm_parents.convnext_file),
        ("swin_tiny_patch4_window7_224.ms_in1k", timm_parents.swin_file),
    ):
        url = timm_hub_url(name)
        assert url.startswith(server.base)
        server.files[url[len(server.base) :]] = path.read_bytes()
    model = hybridnets.create("convvit_t", pretrained="in1k_timm")
    ours, theirs = model.state_dict(), transplanted.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert model.pretrained_cfg["tag"] == "convvit_t.in1k_timm"
    assert model.pretrained_cfg["license"] == "Apache-2.0 AND MIT"
    assert len(server.requests) == 2

    # the medical setting: grey volumes, two classes; parents now come from the cache
    monkeypatch.setenv("HYBRIDNETS_OFFLINE", "1")
    model = hybridnets.create(
        "convvit_t", pretrained=True, in_chans=1, num_classes=2, spatial_dims=3
    )
    assert model.stem[0].weight.shape == (96, 1, 4, 4, 4) and len(server.requests) == 2
    torch.testing.assert_close(
        model.stem[0].weight[:, :, 2], transplanted.stem[0].weight.sum(1, keepdim=True)
    )


def test_timm_tag_digests_pin_each_parent(timm_parents, cache, server, monkeypatch, fast_init):
    """``sha256="<convnext digest>+<swin digest>"`` pins an ``in1k_timm`` tag (README)."""
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    digests = []
    for name, path in (
        ("convnext_tiny.fb_in1k", timm_parents.convnext_file),
        ("swin_tiny_patch4_window7_224.ms_in1k", timm_parents.swin_file),
    ):
        server.files[timm_hub_url(name)[len(server.base) :]] = path.read_bytes()
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    model = hybridnets.create("convvit_t", pretrained="in1k_timm", sha256="+".join(digests))
    assert model.pretrained_cfg["tag"] == "convvit_t.in1k_timm" and len(server.requests) == 2
    with pytest.raises(ChecksumError, match=f"expected {'0' * 64}, got {digests[1]}"):
        hybridnets.create("convvit_t", pretrained="in1k_timm", sha256=f"{digests[0]}+{'0' * 64}")
    with pytest.raises(ValueError, match=r"2 parent checkpoint\(s\) .* gives 1 digest"):
        hybridnets.create("convvit_t", pretrained="in1k_timm", sha256=digests[0])


@pytest.mark.parametrize(
    ("size", "convnext", "swin"),
    [
        ("s", "convnext_small", "swin_small_patch4_window7_224"),
        ("b", "convnext_base", "swin_base_patch4_window7_224"),
    ],
)
def test_larger_sizes_are_covered_key_for_key(size, convnext, swin, fast_init):
    with torch.device("meta"):  # shapes only
        parents = timm.create_model(convnext), timm.create_model(swin)
    state_dict = convvit_from_timm(parents[0].state_dict(), parents[1].state_dict())
    target = hybridnets.create(f"convvit_{size}").state_dict()
    assert state_dict.keys() == target.keys()
    assert all(state_dict[k].shape == target[k].shape for k in target)


def test_convswin_interleaves_both_parents(timm_parents, fast_init):
    """convswin_t stage 3 is ``CCW`` × 3: its conv blocks are ConvNeXt's blocks in order, its
    window blocks Swin's in order (Swin's second block is the shifted one, as ours)."""
    convnext, swin = timm_parents.convnext, timm_parents.swin
    model = hybridnets.create("convswin_t").eval()
    parents = {
        "convnext_tiny.fb_in1k": convnext.state_dict(),
        "swin_tiny_patch4_window7_224.ms_in1k": swin.state_dict(),
    }
    model.load_state_dict(checkpoint_filter_fn(parents, model))  # strict: every key
    blocks = model.stages[2].blocks
    with torch.no_grad():
        x = torch.randn(1, 384, 14, 14)
        torch.testing.assert_close(blocks[3](x), convnext.stages[2].blocks[2](x))
        tokens = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        assert blocks[5].attn.shift_size == (3, 3)
        torch.testing.assert_close(blocks[5](tokens), swin.layers[2].blocks[1](tokens))
    assert torch.equal(model.head.norm.weight, swin.norm.weight)
    with pytest.raises(ValueError, match="one convnext_\\* and one swin_\\* parent"):
        checkpoint_filter_fn({"convnext_tiny.fb_in1k": parents["convnext_tiny.fb_in1k"]}, model)
