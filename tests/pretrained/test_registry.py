"""Pretrained tags: listing, lookup, the convvit in1k_timm entries."""

from __future__ import annotations

import pytest
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from hybridnets.pretrained import PretrainedCfg, get_pretrained_cfg, list_pretrained
from hybridnets.pretrained.registry import default_tag


def test_convvit_timm_tags_are_registered():
    assert list_pretrained("convvit_*") == [
        "convvit_b.in1k_timm",
        "convvit_s.in1k_timm",
        "convvit_t.in1k_timm",
    ]
    assert default_tag("convvit_t") == "in1k_timm"
    cfg = get_pretrained_cfg("in1k_timm", architecture="convvit_s")
    assert isinstance(cfg, PretrainedCfg)
    assert cfg.source == ("timm:convnext_small.fb_in1k+swin_small_patch4_window7_224.ms_in1k")
    assert (cfg.num_classes, cfg.in_chans, cfg.spatial_dims) == (1000, 3, 2)
    assert cfg.input_size == (3, 224, 224) and cfg.licence == "Apache-2.0 AND MIT"


def test_unknown_tag_suggests_close_ones():
    with pytest.raises(ValueError, match=r"Did you mean: convvit_t.in1k_timm"):
        get_pretrained_cfg("convvit_t.in1k_tim")


def test_every_family_declares_its_tags():
    assert list_pretrained("convswin_*") == ["convswin_s.in1k_timm", "convswin_t.in1k_timm"]
    assert list_pretrained("cbamnext_*") == ["cbamnext_s.in1k_timm", "cbamnext_t.in1k_timm"]
    swin = get_pretrained_cfg("convswin_t.in1k_timm")
    assert swin.source == "timm:convnext_tiny.fb_in1k+swin_tiny_patch4_window7_224.ms_in1k"
    convnext = get_pretrained_cfg("cbamnext_s.in1k_timm")
    assert convnext.source == "timm:convnext_small.fb_in1k" and convnext.licence == "Apache-2.0"


def test_default_normalisation_is_timms():
    cfg = PretrainedCfg(source="w.safetensors")
    assert (cfg.mean, cfg.std) == (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
