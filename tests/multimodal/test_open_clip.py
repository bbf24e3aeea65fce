"""open_clip interop: a hybridnets model as the timm tower of an open_clip CLIP, with a
Hugging Face text tower from a local folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import hybridnets

open_clip = pytest.importorskip("open_clip")
pytest.importorskip("transformers")


def test_what_the_timm_tower_reads() -> None:
    model = hybridnets.create("convvit_test")
    assert model.default_cfg["pool_size"] == (2, 2) and model.num_features == 64
    assert "blocks" in model.group_matcher()
    model.reset_classifier(0, global_pool="")
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 64, 2, 2)  # the map, for attn pooling
    assert hybridnets.create("convvit_n", spatial_dims=3).default_cfg["pool_size"] == (2, 2, 2)


@pytest.mark.parametrize(("pool", "proj"), [("avg", "linear"), ("abs_attn", ""), ("avg", "")])
def test_clip_with_a_hybridnets_image_tower(tiny_text_model: Path, pool: str, proj: str) -> None:
    vision = {
        "timm_model_name": "convvit_test",
        "timm_model_pretrained": False,
        "timm_pool": pool,
        "timm_proj": proj,
        "image_size": 32,
    }
    text = {
        "hf_model_name": str(tiny_text_model),
        "hf_tokenizer_name": str(tiny_text_model),
        "hf_proj_type": "linear",
        "hf_pooler_type": "mean_pooler",
        "context_length": 16,
    }
    model = open_clip.CustomTextCLIP(embed_dim=24, vision_cfg=vision, text_cfg=text).eval()
    tokenizer = open_clip.tokenizer.HFTokenizer(str(tiny_text_model), context_length=16)
    with torch.no_grad():
        image = model.encode_image(torch.randn(2, 3, 32, 32), normalize=True)
        text = model.encode_text(tokenizer(["a red square", "a blue circle"]), normalize=True)
    assert image.shape == text.shape == (2, 24)
    torch.testing.assert_close(image.norm(dim=-1), torch.ones(2))
    model.visual.lock(unlocked_groups=1)  # group_matcher drives partial freezing
    frozen = [n for n, p in model.visual.trunk.named_parameters() if not p.requires_grad]
    assert frozen and any(n.startswith("stem") for n in frozen)
