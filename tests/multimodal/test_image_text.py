"""ImageTextModel: normalised embeddings in 2D and 3D, text statistics, what trains in LiT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from hybridnets.multimodal import (
    ImageTextModel,
    ImageTower,
    TextTower,
    build_image_text_model,
)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_embeddings_are_normalised_and_lit_trains_no_text_weight(
    tiny_text_model: Path, spatial_dims: int
) -> None:
    model = build_image_text_model(
        "convvit_test", spatial_dims, 1, text_model=tiny_text_model, embed_dim=16
    )
    images = torch.randn(3, 1, *(16,) * spatial_dims)
    image, text, scale = model(images, ["a red square", "a dark cube", "a red square"])
    assert image.shape == text.shape == (3, 16)
    torch.testing.assert_close(image.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(text[0], text[2])
    (scale * image @ text.T).sum().backward()
    assert all(p.grad is None for p in model.text.parameters())
    assert model.image_proj.weight.grad is not None and model.logit_scale.grad is not None
    assert "logit_scale" in model.no_weight_decay()


def test_text_statistics_centre_the_captions(tiny_text_model: Path) -> None:
    model = ImageTextModel(ImageTower("convvit_test"), TextTower(tiny_text_model), 16)
    captions = ["a red square", "a green circle", "a blue cross", "a dark cube"]
    model.set_text_statistics(captions + captions[:1])  # repeats count once
    feats = (model.text.embed(captions) - model.text_shift) / model.text_scale
    torch.testing.assert_close(feats.mean(0), torch.zeros(32), atol=1e-5, rtol=0)
    torch.testing.assert_close(feats.std(0), torch.ones(32), atol=1e-5, rtol=0)
    assert model.training
